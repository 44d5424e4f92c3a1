"""Similar past decisions: the K nearest decided items of the training corpus.

An index (``imr index``, built by ``make run`` into ``models/dwc-index``) holds, for every
decided DWC item outside the frozen test split, a sentence embedding of its item and case
summary (`pipeline.encoders.embed`, all-MiniLM-L6-v2, 256 tokens) and what a reader needs:
case number, item, decision, decision date. A query item is embedded the same way and its
neighbours are found by cosine similarity with scikit-learn's ``NearestNeighbors``; items of
the query's own letter (same case number, or same file name for a letter without one) are
never returned.

Scale: the exact (brute-force) search costs one matrix product per batch: for a million
items, 1.5 GB of float32 vectors and ~0.4 GFLOP per query, tens of milliseconds on two
cores. Past that, an approximate index (HNSW, IVF) behind the same `Index.query` would keep
queries sub-millisecond; the embeddings file is the input it needs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encoders import MINILM, embed
from ..errors import ModelError
from ..extract.records import NEIGHBOUR_KEYS

EMBEDDINGS = "embeddings.npy"
ITEMS = "items.jsonl"
META = "index.json"
MAX_LENGTH = 256


def letter_key(row: dict[str, Any]) -> str:
    """The letter an item row comes from: its case number, else its file's name."""
    return row.get("case_number") or Path(str(row.get("source") or "")).stem.split("#")[0]


def query_text(item: str | None, summary: str | None) -> str:
    """What an item is compared by: its words and its case."""
    return f"{item or ''}. {summary or ''}".strip(". ")


def build(item_rows: Sequence[dict[str, Any]], exclude: set[str], out: str | Path,
          encoder: str = MINILM) -> Path:
    """Write the index of the decided items whose case number is not in ``exclude`` (the test split)."""
    from ..io.records import write_jsonl

    rows = [r for r in item_rows if r.get("decision") in ("Upheld", "Overturned") and letter_key(r) not in exclude]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    E = embed([query_text(r["item"], r.get("case_summary")) for r in rows], encoder, MAX_LENGTH)
    np.save(out / EMBEDDINGS, E.astype(np.float32))
    write_jsonl(out / ITEMS, ({"letter": letter_key(r), **{k: r.get(k) for k in NEIGHBOUR_KEYS}} for r in rows))
    (out / META).write_text(json.dumps({"encoder": encoder, "max_length": MAX_LENGTH, "items": len(rows),
                                        "excluded_letters": len(exclude)}, indent=2) + "\n")
    return out


class Index:
    """A built index, loaded for queries."""

    def __init__(self, path: str | Path):
        from sklearn.neighbors import NearestNeighbors

        from ..io.records import read_jsonl

        path = Path(path)
        if not (path / META).is_file():
            raise ModelError(f"no similarity index at {path}: build it with `imr index` (make run does)")
        self.meta = json.loads((path / META).read_text())
        self.items = list(read_jsonl(path / ITEMS))
        self.vectors = np.load(path / EMBEDDINGS)
        self.nn = NearestNeighbors(metric="cosine", algorithm="brute").fit(self.vectors)

    def query(self, rows: Sequence[dict[str, Any]], k: int) -> list[list[dict[str, Any]]]:
        """The ``k`` nearest decided items of each item row, never from the row's own letter."""
        if not rows:
            return []
        q = embed([query_text(r.get("item"), r.get("case_summary")) for r in rows],
                  self.meta["encoder"], self.meta["max_length"])
        n = min(len(self.items), k + 25)  # room for the own letter's items, dropped below
        dist, idx = self.nn.kneighbors(q, n_neighbors=n)
        out = []
        for r, ds, ix in zip(rows, dist, idx):
            own = letter_key(r)
            hits = [{**{c: self.items[j].get(c) for c in NEIGHBOUR_KEYS}, "similarity": round(1.0 - float(d), 4)}
                    for d, j in zip(ds, ix) if self.items[j]["letter"] != own]
            out.append(hits[:k])
        return out
