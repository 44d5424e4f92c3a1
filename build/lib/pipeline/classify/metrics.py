"""The classifiers' metrics, defined once: accuracy, balanced accuracy, macro-F1, AUROC, AUPRC
for Overturned, ECE; their summary across folds, their formatting, the reliability curve.

Every table (reports/comparison.md, `imr runs`, the dashboard) formats a metric with `fmt`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "auprc", "ece")
LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.", "macro_f1": "macro-F1",
          "auroc": "AUROC", "auprc": "AUPRC (Overturned)", "ece": "ECE"}
LOWER_IS_BETTER = {"ece"}
# the metric that picks each setting's champion
PRIMARY = {"rationale": "macro_f1", "prior": "auroc"}


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def _bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin of each probability, as `sklearn.calibration.calibration_curve` bins them."""
    return np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)


def ece(y: Sequence[int], p: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error of P(Overturned): the count-weighted gap between the mean
    predicted probability and the observed rate over the reliability curve's bins."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if not len(y):
        return float("nan")
    idx = _bins(p, bins)
    return float(sum((idx == b).sum() / len(y) * abs(p[idx == b].mean() - y[idx == b].mean())
                     for b in range(bins) if (idx == b).any()))


def reliability(y: Sequence[int], p: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Reliability curve: per non-empty equal-width bin, mean predicted P(Overturned) vs the
    observed rate (`sklearn.calibration.calibration_curve`) and the bin's count."""
    from sklearn.calibration import calibration_curve

    y, p = np.asarray(y, int), np.asarray(p, float)
    if not len(y):
        return []
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    counts = [int(n) for n in np.bincount(_bins(p, bins), minlength=bins) if n]
    return [{"mean_predicted": float(a), "observed": float(b), "count": c}
            for a, b, c in zip(predicted, observed, counts)]


def compute_metrics(y: Sequence[int], p: Sequence[float], threshold: float | np.ndarray = 0.5) -> dict[str, float]:
    """The classifier issue's metrics; ``threshold`` may be one per item (cross-fitted per fold)."""
    from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score,
                                 f1_score, roc_auc_score)

    y, p = np.asarray(y, int), np.asarray(p, float)
    pred = (p >= threshold).astype(int)
    both = len(set(y.tolist())) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else float("nan"),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1], zero_division=0)),
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
        "auprc": float(average_precision_score(y, p)) if both else float("nan"),
        "ece": ece(y, p),
    }


def summarize(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for k in METRICS:
        v = np.array([f[k] for f in per_fold], float)
        v = v[~np.isnan(v)]
        out[k] = {"mean": float(v.mean()) if len(v) else float("nan"),
                  "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return out


def fmt(mean: float | None, std: float | None = None, digits: int = 3) -> str:
    """``0.812 ± 0.041`` (``n/a`` when missing): every table formats metrics this way."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def bootstrap_intervals(y: Sequence[int], p: Sequence[float], threshold: float | np.ndarray = 0.5,
                        groups: Sequence[str] | None = None, n: int = 500, seed: int = 0,
                        level: float = 0.95) -> dict[str, tuple[float, float]]:
    """A percentile bootstrap interval for each metric, resampling ``groups`` (the letters:
    items of one letter are not independent) or items when no groups are given. Resamples
    where a metric is undefined (one class only) are left out of that metric's interval."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    t = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    keys = np.asarray(groups if groups is not None else np.arange(len(y)))
    uniq, inverse = np.unique(keys, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in METRICS}
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        m = compute_metrics(y[idx], p[idx], t[idx])
        for k in METRICS:
            if not math.isnan(m[k]):
                draws[k].append(m[k])
    a = (1 - level) / 2
    return {k: (float(np.quantile(v, a)), float(np.quantile(v, 1 - a))) if len(v) >= 0.5 * n
            else (float("nan"), float("nan")) for k, v in draws.items()}


def at_chance(test: dict[str, Any] | None) -> bool | None:
    """Whether the frozen-test AUROC interval includes 0.5 (None when there is no test score)."""
    if not test or math.isnan(test["summary"]["auroc"]["low"]):
        return None
    return test["summary"]["auroc"]["low"] <= 0.5
