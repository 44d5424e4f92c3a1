"""Honest evaluation: grouped k-fold cross-validation, cross-fitted calibration, metrics
(accuracy, balanced accuracy, macro-F1, AUROC, AUPRC for Overturned, ECE) per fold with
mean and spread, reliability curves, and the one comparison table (reports/)."""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .classifiers import Calibrator, Classifier
from .examples import Example

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "auprc", "ece")
# the metric that picks each setting's champion (the floors)
PRIMARY = {"rationale": "macro_f1", "prior": "auroc"}


def ece(y: Sequence[int], p: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error of P(Overturned), equal-width bins."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if not len(y):
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() / len(y) * abs(p[m].mean() - y[m].mean())
    return float(total)


def reliability(y: Sequence[int], p: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Reliability curve: per non-empty bin, mean predicted P(Overturned) vs observed rate."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [{"bin_low": b / bins, "bin_high": (b + 1) / bins, "mean_predicted": float(p[idx == b].mean()),
             "observed": float(y[idx == b].mean()), "count": int((idx == b).sum())}
            for b in range(bins) if (idx == b).any()]


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


def cross_validate(make: Callable[[], Classifier], examples: Sequence[Example],
                   log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """k-fold CV over the examples' ``fold`` column (grouped, stratified: see
    `pipeline.examples.assign_folds`). Unscored examples (fold -1) are always in training.

    Calibration is cross-fitted: fold k's raw scores are calibrated (Platt + macro-F1
    threshold) on the out-of-fold scores of the other folds only, so no item's own label
    ever tunes its probability. Returns per-fold metrics, their summary, the OOF records
    and the calibrator fitted on all OOF scores (for the final model)."""
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
                    "prediction": int(q >= cal.threshold)} for e, r, q in zip(test, raw[k], p))
    y_all = [r["label"] for r in oof]
    final_cal = Calibrator().fit([r["raw"] for r in oof], y_all)
    return {"per_fold": per_fold, "summary": summarize(per_fold), "oof": oof,
            "pooled": compute_metrics(y_all, [r["p_overturned"] for r in oof]),
            "reliability": reliability(y_all, [r["p_overturned"] for r in oof]),
            "calibrator": final_cal, "cv_seconds": float(sum(times))}


def plot_reliability(curve: list[dict[str, float]], path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    ax.plot([c["mean_predicted"] for c in curve], [c["observed"] for c in curve], marker="o",
            label="out-of-fold")
    for c in curve:
        ax.annotate(str(c["count"]), (c["mean_predicted"], c["observed"]), fontsize=7,
                    textcoords="offset points", xytext=(3, 3))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(Overturned)", ylabel="observed Overturned rate",
           title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- the comparison table

def _fmt(s: dict[str, float]) -> str:
    if s is None or math.isnan(s.get("mean", float("nan"))):
        return "n/a"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def load_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    runs = []
    for f in sorted(Path(runs_dir).glob("*/metrics.json")):
        runs.append(json.loads(f.read_text()))
    return runs


def comparison(runs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Markdown table + JSON of every (domain, setting, model), and each setting's champion."""
    order = {"rationale": 0, "prior": 1}
    runs = sorted(runs, key=lambda r: (r["domain"], order.get(r["setting"], 9), r["model"]))
    champions: dict[str, str] = {}
    for key in sorted({(r["domain"], r["setting"]) for r in runs}):
        cands = [r for r in runs if (r["domain"], r["setting"]) == key and r["kind"] != "majority"]
        if not cands:
            continue
        metric = PRIMARY.get(key[1], "auroc")
        best = max(cands, key=lambda r: (r["summary"][metric]["mean"], r["kind"] == "transformer"))
        champions[f"{key[0]}-{key[1]}"] = best["run"]
    head = ("| domain | setting | model | n (overturned) | accuracy | balanced acc. | macro-F1 | AUROC "
            "| AUPRC (Overturned) | ECE | CV train s |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in runs:
        s = r["summary"]
        champ = " **champion**" if r["run"] in champions.values() else ""
        rows.append(f"| {r['domain']} | {r['setting']} | {r['model']}{champ} | {r['n']} ({r['n_overturned']}) | "
                    + " | ".join(_fmt(s[k]) for k in METRICS) + f" | {r.get('cv_seconds', 0):.0f} |")
    md = ("# Outcome classifiers: 5-fold grouped cross-validation\n\n"
          "Mean ± standard deviation across folds. Probabilities are Platt-calibrated on the other "
          "folds' out-of-fold scores; the decision threshold (macro-F1) is tuned the same way. "
          "AUPRC is for Overturned. Health-plan rows are scored on `hard_case_subset = false` only. "
          "Champion: best macro-F1 (rationale) or AUROC (prior) among trained models.\n\n"
          + head + "\n".join(rows) + "\n")
    data = {"runs": [{k: r[k] for k in ("run", "domain", "setting", "model", "kind", "n", "n_overturned",
                                        "summary", "cv_seconds", "fit_seconds") if k in r} for r in runs],
            "champions": champions}
    return md, data


def flat_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """DVC metrics: {run: {metric: mean, metric_std: std}}."""
    out: dict[str, Any] = {}
    for r in data["runs"]:
        m = {}
        for k, v in r["summary"].items():
            m[k] = None if math.isnan(v["mean"]) else round(v["mean"], 4)
            m[f"{k}_std"] = None if math.isnan(v["std"]) else round(v["std"], 4)
        out[r["run"]] = m
    return out


def export_champions(data: dict[str, Any], candidates_dir: str | Path, models_dir: str | Path) -> dict[str, str]:
    """Copy each setting's champion (an MLflow pyfunc folder) to models/<domain>-<setting>."""
    out = {}
    for name, run in data["champions"].items():
        src = Path(candidates_dir) / run
        if not (src / "MLmodel").exists():
            continue
        dst = Path(models_dir) / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        out[name] = run
    return out


def evaluate(runs_dir: str | Path = "reports/runs", reports_dir: str | Path = "reports",
             candidates_dir: str | Path = "models/candidates", models_dir: str | Path = "models"
             ) -> dict[str, Any]:
    runs = load_runs(runs_dir)
    if not runs:
        raise FileNotFoundError(f"no runs in {runs_dir} (run `imr train` first)")
    md, data = comparison(runs)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "comparison.md").write_text(md)
    (reports_dir / "comparison.json").write_text(json.dumps(data, indent=2) + "\n")
    (reports_dir / "metrics.json").write_text(json.dumps(flat_metrics(data), indent=2) + "\n")
    data["exported"] = export_champions(data, candidates_dir, models_dir)
    return data
