"""Train the accurate tagger (``pipeline_accurate.cfg``): the ``imr_transformer_ner`` head on
the hand-labelled development letters (data/dev) and the health-plan ``train`` texts, end to end
from raw text to a saved pipeline that `pipeline.nlp.build.load_tagger` loads.

The encoder is frozen, so its word features are computed once per text (optionally cached on
disk, keyed by text and encoder settings) and the head is trained on them for ``epochs``
passes. The gold set and the health-plan ``dev``/``test`` texts are never used here.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Optional

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import load_config, load_model_from_config

from .. import project
from .gold import dev_spans, letter_text, load_texts
from .transformer_ner import TAG_LABELS, extra_features, make_head, tagged_words

ACCURATE_CONFIG = project.package_file("nlp", "pipeline_accurate.cfg")
COMPONENT = "imr_transformer_ner"


def default_accurate_model() -> Path:
    return project.models_dir() / "tagger_accurate"


def build_accurate(config: str | Path = ACCURATE_CONFIG) -> Language:
    """The accurate pipeline from its config, untrained (its transformer component passes)."""
    nlp = load_model_from_config(load_config(config), auto_fill=True, validate=True)
    nlp.initialize()
    return nlp


def word_tags(doc: Doc, idx: list[int], spans: list[dict]) -> np.ndarray:
    """BIO tag ids (0 = O, 1 + 2l = B, 2 + 2l = I of TAG_LABELS[l]) of the words ``idx``;
    a span whose edges are not token edges is left out."""
    pos = {i: k for k, i in enumerate(idx)}
    y = np.zeros(len(idx), np.int64)
    for s in spans:
        sp = doc.char_span(s["start"], s["end"])
        if sp is None or s["label"] not in TAG_LABELS:
            continue
        ks = [pos[t.i] for t in sp if t.i in pos]
        if ks:
            lab = TAG_LABELS.index(s["label"])
            y[ks[0]] = 1 + 2 * lab
            y[ks[1:]] = 2 + 2 * lab
    return y


def training_items(holdout_parts: tuple[int, ...] = ()) -> list[tuple[str, list[dict]]]:
    """(text, spans) of the dev letters outside ``holdout_parts`` and the health-plan train texts."""
    keep = {c for f in sorted(project.data_dir().joinpath("dev").glob("annotations_part*.jsonl"))
            if int(f.stem.removeprefix("annotations_part")) not in holdout_parts
            for c in _cases(f)}
    letters = [(letter_text(c), s) for c, s in sorted(dev_spans().items()) if c in keep]
    return letters + [(t["text"], t["spans"]) for t in load_texts("train")]


def _cases(path: Path) -> list[str]:
    import json
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["case_number"] for line in fh if line.strip()]


def cached_features(comp, docs: list[Doc], cache_dir: Optional[Path]) -> list[np.ndarray]:
    """``comp.features`` of ``docs``, reusing ``cache_dir/<hash>.npy`` where present."""
    key = f"{comp.encoder_name}|{comp.layers}|{comp.max_length}|{comp.stride}|"
    names = [hashlib.sha1((key + d.text).encode()).hexdigest() + ".npy" for d in docs]
    out: list = [None] * len(docs)
    todo = []
    for k, n in enumerate(names):
        if cache_dir is not None and (cache_dir / n).exists():
            out[k] = np.load(cache_dir / n)
        else:
            todo.append(k)
    for start in range(0, len(todo), 16):
        part = todo[start:start + 16]
        for k, f in zip(part, comp.features([docs[k] for k in part])):
            out[k] = f
            if cache_dir is not None:
                cache_dir.mkdir(parents=True, exist_ok=True)
                np.save(cache_dir / names[k], f)
    return out


def fit_head(comp, feats: list[np.ndarray], extras: list[np.ndarray], tags: list[np.ndarray],
             epochs: int = 20, lr: float = 2e-3, chunk: int = 200, batch: int = 16, seed: int = 0):
    """Train a new head for ``comp`` (CRF loss, Adam with a one-cycle schedule) on word
    sequences cut into ``chunk``-word pieces; returns it (in eval mode)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pieces = [(f[a:a + chunk], x[a:a + chunk], y[a:a + chunk])
              for f, x, y in zip(feats, extras, tags) for a in range(0, len(y), chunk) if len(y)]
    head = make_head(feats[0].shape[1], comp.dims["proj"], comp.dims["hidden"], comp.dims["dropout"])
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    steps = epochs * ((len(pieces) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    head.train()
    for _ in range(epochs):
        order = rng.permutation(len(pieces))
        for s in range(0, len(order), batch):
            bb = [pieces[i] for i in order[s:s + batch]]
            n = max(len(p[2]) for p in bb)

            def pad(a):
                return torch.from_numpy(np.concatenate([a, np.zeros((n - len(a),) + a.shape[1:], a.dtype)]))
            f, x, y = (torch.stack([pad(p[j]) for p in bb]) for j in range(3))
            lens = torch.tensor([len(p[2]) for p in bb])
            loss = head.nll(head(f, x), y, lens).sum() / lens.sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 5.0)
            opt.step()
            sched.step()
    return head.eval()


def train_transformer(model_dir: Optional[str | Path] = None, holdout_parts: tuple[int, ...] = (),
                      config: str | Path = ACCURATE_CONFIG, epochs: int = 20, lr: float = 2e-3,
                      seed: int = 0, cache_dir: Optional[str | Path] = None,
                      items: Optional[list[tuple[str, list[dict]]]] = None) -> dict:
    """Train the accurate tagger on the dev letters (less ``holdout_parts``) and the health-plan
    train texts (or on ``items``: (text, spans) pairs) and save it to ``model_dir``
    (default models/tagger_accurate)."""
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    model_dir = Path(model_dir) if model_dir else default_accurate_model()
    nlp = build_accurate(config)
    comp = nlp.get_pipe(COMPONENT)
    comp.load_encoder()
    items = training_items(tuple(holdout_parts)) if items is None else items
    before = nlp.pipe_names[:nlp.pipe_names.index(COMPONENT)]
    with nlp.select_pipes(enable=[p for p in before if p != "imr_entity_rules"]):
        docs = list(nlp.pipe(text for text, _ in items))
    feats = cached_features(comp, docs, Path(cache_dir) if cache_dir else None)
    t_feat = time.time() - t0
    idxs = [tagged_words(d) for d in docs]
    head = fit_head(comp, feats, [extra_features(d, i) for d, i in zip(docs, idxs)],
                    [word_tags(d, i, s) for d, i, (_, s) in zip(docs, idxs, items)],
                    epochs=epochs, lr=lr, seed=seed)
    comp.set_head(head)
    model_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(model_dir)
    return {"texts": len(items), "words": sum(map(len, idxs)), "model": str(model_dir),
            "feature_seconds": round(t_feat, 1), "seconds": round(time.time() - t0, 1)}
