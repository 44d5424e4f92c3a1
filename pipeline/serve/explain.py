"""Evidence for a prediction: the input sentences that move ``p_overturned`` most.

For each item the model input is cut into sentences (lines, then sentence ends); each
sentence is removed in turn and the shortened input rescored. A sentence's ``delta`` is
p(full input) - p(without it): positive when it pushes toward Overturned. Sentences are
ranked by the same move in log-odds, which a probability near 0 or 1 would hide (from 0.9997
a decisive sentence may move p by 0.0002); the 1-3 with the largest move are the evidence.

Cost is bounded: at most `MAX_SENTENCES` sentences are tried per item (when an input has
more, its first 10 and last 30: where head+tail truncation lets a transformer read), so an
item costs at most 41 scorings, all items of a batch in one call to the model.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

import numpy as np
from scipy.special import logit

MAX_SENTENCES = 40
HEAD_SENTENCES = 10
TOP = 3
MIN_SHIFT = 0.01  # smaller moves in log-odds are not evidence
_SPLIT = re.compile(r"\n+|(?<=[.!?])\s+(?=[A-Z(\"“])")


def sentences(text: str) -> list[str]:
    """The input's sentences, in order (labels such as "Item:" stay with their line)."""
    return [s for s in (x.strip() for x in _SPLIT.split(text)) if s]


def candidates(sents: list[str]) -> list[int]:
    """The sentence positions tried (see the module doc)."""
    n = len(sents)
    if n <= MAX_SENTENCES:
        return list(range(n))
    tail = MAX_SENTENCES - HEAD_SENTENCES
    return list(range(HEAD_SENTENCES)) + list(range(n - tail, n))


def explain(scorer, examples: Sequence[Any], base: Sequence[float] | None = None) -> list[list[dict[str, Any]]]:
    """Per example, its evidence: up to `TOP` {"text", "delta"}, the largest move in log-odds first."""
    split = [sentences(e.text) for e in examples]
    variants, owners = [], []
    for i, (e, sents) in enumerate(zip(examples, split)):
        for j in candidates(sents):
            text = " ".join(s for k, s in enumerate(sents) if k != j)
            variants.append(dataclasses.replace(e, text=text))
            owners.append((i, j))
    full = np.asarray(base if base is not None else scorer.predict_proba(list(examples)), dtype=float)
    scores = np.asarray(scorer.predict_proba(variants), dtype=float) if variants else np.zeros(0)
    full_lo, scores_lo = (logit(np.clip(p, 1e-12, 1 - 1e-12)) for p in (full, scores))
    out: list[list[tuple[float, dict[str, Any]]]] = [[] for _ in examples]
    for (i, j), p, p_lo in zip(owners, scores, scores_lo):
        shift = full_lo[i] - p_lo
        if abs(shift) >= MIN_SHIFT:
            out[i].append((abs(shift), {"text": split[i][j], "delta": float(f"{full[i] - p:.4g}")}))
    return [[x for _, x in sorted(ev, key=lambda t: -t[0])[:TOP]] for ev in out]
