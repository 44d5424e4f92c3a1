"""Grouped k-fold cross-validation with cross-fitted calibration."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from .base import Calibrator, Classifier
from .examples import TEST_FOLD, Example
from .metrics import bootstrap_intervals, compute_metrics, ece, reliability, summarize


def cross_validate(make: Callable[[], Classifier], examples: Sequence[Example],
                   log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """k-fold CV over the examples' ``fold`` column (grouped, stratified: see
    `pipeline.examples.assign_folds`). Unscored examples (fold -1) are always in training.

    Calibration is cross-fitted: fold k's raw scores are calibrated (Platt + macro-F1
    threshold) on the out-of-fold scores of the other folds only, so no item's own label
    ever tunes its probability. Returns per-fold metrics, their summary (mean and std
    across folds, and a 95% bootstrap interval of the pooled out-of-fold predictions,
    resampling groups: letters), the OOF records and the calibrator fitted on all OOF scores
    (for the final model). Examples of the frozen test split must not be passed in."""
    if any(e.fold == TEST_FOLD for e in examples):
        raise ValueError("cross_validate got examples of the frozen test split")
    folds = sorted({e.fold for e in examples if e.fold >= 0 and e.scored})
    raw: dict[int, np.ndarray] = {}
    times = []
    for k in folds:
        train = [e for e in examples if e.fold != k]
        test = [e for e in examples if e.fold == k and e.scored]
        t = time.time()
        model = make().fit(train)
        raw[k] = model.raw_proba(test)
        times.append(time.time() - t)
        log(f"fold {k}: trained on {len(train)}, scored {len(test)} in {times[-1]:.0f}s")
    per_fold, oof = [], []
    for k in folds:
        test = [e for e in examples if e.fold == k and e.scored]
        others = [j for j in folds if j != k]
        y_o = [e.label for j in others for e in examples if e.fold == j and e.scored]
        cal = Calibrator().fit(np.concatenate([raw[j] for j in others]), y_o) if others else Calibrator()
        p = cal.transform(raw[k])
        y = [e.label for e in test]
        m = compute_metrics(y, p, cal.threshold)
        m.update({"fold": k, "n": len(test), "overturned": int(sum(y)), "threshold": cal.threshold,
                  "ece_uncalibrated": ece(y, raw[k]), "seconds": times[folds.index(k)]})
        per_fold.append(m)
        oof.extend({**e.to_dict(), "fold": k, "raw": float(r), "p_overturned": float(q),
                    "threshold": cal.threshold, "prediction": int(q >= cal.threshold)}
                   for e, r, q in zip(test, raw[k], p))
    y_all = [r["label"] for r in oof]
    final_cal = Calibrator().fit([r["raw"] for r in oof], y_all)
    summary = summarize(per_fold)
    ci = bootstrap_intervals(y_all, [r["p_overturned"] for r in oof], np.array([r["threshold"] for r in oof]),
                             [r["group"] for r in oof])
    for k, (low, high) in ci.items():
        summary[k].update(low=low, high=high)
    return {"per_fold": per_fold, "summary": summary, "oof": oof,
            "pooled": compute_metrics(y_all, [r["p_overturned"] for r in oof]),
            "reliability": reliability(y_all, [r["p_overturned"] for r in oof]),
            "calibrator": final_cal, "cv_seconds": float(sum(times))}


