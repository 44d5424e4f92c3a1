"""The model comparison dashboard (``imr compare``): one self-contained HTML page from MLflow runs.

Runs are compared within their task (domain x setting) only: each task gets its own
section with its runs table (every metric as mean ± std across folds, with a 95%
interval when logged; the best value per column within the task marked; the champion from
the registry alias), ROC / precision-recall / reliability curves (matplotlib, inline SVG),
confusion matrices, metrics sliced by reviewer specialty, treatment category and guideline
source, and an error browser. The page is a Jinja2 template (``templates/compare.html.j2``);
nothing is fetched when it opens.

Each run's per-item out-of-fold predictions come from its ``oof_predictions.jsonl``
artifact (`pipeline.classify.cv`).
"""
from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import project, store
from ..classify.metrics import LABELS, METRICS, PRIMARY, compute_metrics, fmt, lower_is_better, reliability
from ..classify.plots import pr_figure, reliability_figure, roc_figure, to_svg
from ..errors import StoreError
from ..extract.facets import guideline_sources, specialty_family, treatment_category
from .runs import COMPARISON_TAG, COMPARISON_VALUE, RunRow, run_rows

PREDICTIONS_ARTIFACT = "oof_predictions.jsonl"
REPORT_ARTIFACT = "compare.html"
SLICES = (("specialty", "the reviewer's first listed board certification"),
          ("treatment category", "the tagger's treatment mention of the item, by the treatment vocabulary"),
          ("guideline source", "cited in the claims administrator's guideline line; an item citing two "
                               "sources counts in both"))
MAX_SLICE_ROWS = 8  # the most frequent values; the rest are summed up in one row
MAX_ERRORS_PER_RUN = 300


@dataclass
class RunData:
    row: RunRow
    preds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        return np.array([int(r["label"]) for r in self.preds], dtype=int)

    @property
    def p(self) -> np.ndarray:
        return np.array([float(r["p_overturned"]) for r in self.preds], dtype=float)

    @property
    def predicted(self) -> np.ndarray:
        return np.array([int(r["prediction"]) for r in self.preds], dtype=int)

    @property
    def thresholds(self) -> np.ndarray:
        return np.array([float(r.get("threshold", 0.5)) for r in self.preds], dtype=float)


def load_predictions(c, run_id: str) -> list[dict[str, Any]]:
    """A run's scored out-of-fold predictions ([] when the run has none)."""
    names = {a.path for a in c.list_artifacts(run_id)}
    if PREDICTIONS_ARTIFACT not in names:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(c.download_artifacts(run_id, PREDICTIONS_ARTIFACT, tmp))
        rows = [json.loads(x) for x in local.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if r.get("scored", True) and int(r.get("label", -1)) >= 0]


def facets(rec: dict[str, Any]) -> dict[str, list[str]]:
    """The slice values of one predicted item (`pipeline.extract.facets`)."""
    return {"specialty": [specialty_family(rec.get("specialty"))],
            "treatment category": [rec.get("treatment_category") or treatment_category(rec.get("item") or rec.get("text"))],
            "guideline source": guideline_sources(rec.get("guideline"))}


# --------------------------------------------------------------------------- one task

def _best(runs: list[RunData]) -> dict[str, float]:
    best = {}
    for k in METRICS:
        vals = [r.row.value(k) for r in runs if not math.isnan(r.row.value(k))]
        if len(vals) > 1 and max(vals) > min(vals):  # a tie everywhere marks nothing
            best[k] = min(vals) if lower_is_better(k) else max(vals)
    return best


def _metric_cell(m: dict[str, float] | None, best: bool) -> dict[str, Any]:
    """mean ± std, and the interval on a line of its own (the table fits the page)."""
    m = m or {}
    ci = f"[{m['low']:.3f}, {m['high']:.3f}]" if "low" in m and "high" in m else ""
    return {"text": fmt(m.get("mean"), m.get("std")), "ci": ci, "best": best}


def _table(runs: list[RunData]) -> list[dict[str, Any]]:
    best = _best(runs)
    return [{"run_id": r.row.run_id, "name": r.row.name, "model": r.row.model, "aliases": r.row.aliases,
             "n_items": len(r.preds), "date": r.row.date,
             "cells": [_metric_cell(r.row.metrics.get(k), k in best and r.row.value(k) == best[k])
                       for k in METRICS]}
            for r in runs]


def _curves(runs: list[RunData], task: str) -> list[str]:
    scored = [r for r in runs if r.preds and len(set(r.y.tolist())) == 2]
    if not scored:
        return []
    both = [(r.row.run_id, r.y, r.p, r.row.name) for r in scored]
    rel = [(r.row.run_id, reliability(r.y, r.p), r.row.name) for r in scored]
    return [to_svg(roc_figure(both, f"ROC, {task}"), {"class": "plot", "data-kind": "roc"}),
            to_svg(pr_figure(both, f"Precision-recall, {task}"), {"class": "plot", "data-kind": "pr"}),
            to_svg(reliability_figure(rel, f"Reliability, {task}", size=3.8),
                   {"class": "plot", "data-kind": "reliability"})]


def _confusions(runs: list[RunData]) -> list[dict[str, Any]]:
    from sklearn.metrics import confusion_matrix

    out = []
    for r in runs:
        if not r.preds:
            continue
        cm = confusion_matrix(r.y, r.predicted, labels=[0, 1])
        total = max(int(cm.sum()), 1)
        out.append({"run_id": r.row.run_id, "name": r.row.name,
                    "cells": [[{"n": int(cm[i, j]), "share": cm[i, j] / total} for j in range(2)]
                              for i in range(2)]})
    return out


def _slices(runs: list[RunData], metric: str) -> list[dict[str, Any]]:
    runs = [r for r in runs if r.preds]
    if not runs:
        return []
    per_item = {r.row.run_id: [facets(x) for x in r.preds] for r in runs}
    ref = runs[0]
    out = []
    for dim, note in SLICES:
        counts = Counter(v for f in per_item[ref.row.run_id] for v in f[dim])
        top = [v for v, _ in counts.most_common(MAX_SLICE_ROWS)]
        rows = []
        for v in top + (["(other values)"] if len(counts) > len(top) else []):
            values = [v] if v in top else [w for w in counts if w not in top]
            mask_ref = np.array([any(w in f[dim] for w in values) for f in per_item[ref.row.run_id]])
            cells = []
            for r in runs:
                mask = np.array([any(w in f[dim] for w in values) for f in per_item[r.row.run_id]])
                m = compute_metrics(r.y[mask], r.p[mask], r.thresholds[mask]) if mask.any() else {}
                val = m.get(metric, float("nan"))
                cells.append("n/a" if math.isnan(val) else f"{val:.2f}")
            rows.append({"value": v if v in top else f"(other: {len(values)} values)",
                         "n_items": int(mask_ref.sum()), "overturned": int(ref.y[mask_ref].sum()), "cells": cells})
        out.append({"dim": dim, "note": note, "rows": rows})
    return out


def _errors(runs: list[RunData], task: str) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        wrong = [(x, pred) for x, pred in zip(r.preds, r.predicted.tolist()) if pred != int(x["label"])]
        for x, pred in wrong[:MAX_ERRORS_PER_RUN]:
            out.append({"task": task, "run_id": r.row.run_id, "name": r.row.name,
                        "case": x.get("case_number") or x.get("id") or "",
                        "index": x.get("index"), "item": x.get("item") or (x.get("text") or "")[:200],
                        "text": x.get("text") or "", "true": "Overturned" if int(x["label"]) else "Upheld",
                        "predicted": "Overturned" if pred else "Upheld",
                        "p": float(x["p_overturned"]), "fold": x.get("fold", "")})
    return out


def task_sections(runs: list[RunData]) -> list[dict[str, Any]]:
    """One section per task, in a fixed order (DWC rationale, DWC prior, health-plan prior)."""
    order = {"dwc-rationale": 0, "dwc-prior": 1, "health-plan-prior": 2}
    tasks = sorted({r.row.task for r in runs}, key=lambda t: (order.get(t, 9), t))
    out = []
    for task in tasks:
        mine = sorted([r for r in runs if r.row.task == task], key=lambda r: r.row.name)
        metric = PRIMARY.get(mine[0].row.setting, "auroc")
        champion = next((r.row.name for r in mine if "champion" in r.row.aliases), None)
        out.append({"task": task, "anchor": f"task-{task}", "champion": champion, "n_runs": len(mine),
                    "n_items": max(len(r.preds) for r in mine),
                    "overturned": max((int(r.y.sum()) for r in mine if r.preds), default=0),
                    "table": _table(mine), "curves": _curves(mine, task), "confusions": _confusions(mine),
                    "slice_metric": LABELS[metric], "slice_runs": [r.row.name for r in mine if r.preds],
                    "slices": _slices(mine, metric), "errors": _errors(mine, task)})
    return out


# --------------------------------------------------------------------------- the page

def collect(experiment: str | None = store.OUTCOME_EXPERIMENT, run_ids: Sequence[str] | None = None,
            c=None) -> list[RunData]:
    c = c or store.client()
    return [RunData(row, load_predictions(c, row.run_id)) for row in run_rows(experiment, run_ids, c)]


def render(runs: list[RunData], experiment: str | None = None) -> str:
    """The page as HTML text (the Jinja2 template with every section filled in)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(project.package_file("report", "templates"))),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    sections = task_sections(runs)
    return env.get_template("compare.html.j2").render(
        title="imr model comparison", experiment=experiment, store=store.tracking_uri(),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"), n_runs=len(runs),
        metric_names=[(LABELS[k], "↓" if lower_is_better(k) else "↑") for k in METRICS],
        sections=sections, runs_without_predictions=[r.row.name for r in runs if not r.preds])


def build_report(out: str | Path, experiment: str | None = store.OUTCOME_EXPERIMENT,
                 run_ids: Sequence[str] | None = None, log: bool = True, c=None
                 ) -> tuple[Path, list[RunData], str | None]:
    """Write the page to ``out``; with ``log``, also log it as the artifact of a comparison run
    (tagged ``imr.kind=comparison``) in the compared runs' experiment. Returns (path, runs,
    comparison run id)."""
    c = c or store.client()
    runs = collect(experiment, run_ids, c)
    if not runs:
        raise StoreError("no training runs to compare" + (f" in experiment {experiment!r}" if experiment else "")
                         + ": run `imr train` (or `make run`) first")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(runs, experiment), encoding="utf-8")
    compare_id = log_comparison(out, runs, c) if log else None
    return out, runs, compare_id


def log_comparison(page: Path, runs: list[RunData], c) -> str:
    run = c.create_run(runs[0].row.experiment_id, run_name=f"compare-{datetime.now():%Y%m%d-%H%M%S}",
                       tags={COMPARISON_TAG: COMPARISON_VALUE})
    rid = run.info.run_id
    try:
        c.log_param(rid, "runs", ",".join(r.row.run_id for r in runs)[:6000])
        c.log_param(rid, "n_runs", len(runs))
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / REPORT_ARTIFACT
            dst.write_bytes(page.read_bytes())
            c.log_artifact(rid, str(dst))
        c.set_terminated(rid, "FINISHED")
    except Exception:
        c.set_terminated(rid, "FAILED")
        raise
    return rid
