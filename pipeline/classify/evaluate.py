"""The comparison table of every model and setting, and the champions it picks.

``imr evaluate`` reads each run's metrics (reports/runs/<run>/metrics.json), writes the one
comparison table (reports/comparison.md/.json, DVC metrics reports/metrics.json), picks each
task's champion (best macro-F1 for ``rationale``, best AUROC for ``prior``), sets the MLflow
registry alias ``champion`` on it and exports ``models/<domain>-<setting>`` from that alias.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .metrics import METRICS, PRIMARY, fmt


def _fmt(s: dict[str, float] | None) -> str:
    return fmt(s["mean"], s["std"]) if s else fmt(None)


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


def export_champions(data: dict[str, Any], runs: list[dict[str, Any]], models_dir: str | Path
                     ) -> dict[str, str]:
    """Set the registry alias ``champion`` on each task's champion run and export
    ``models/<domain>-<setting>`` from that alias (`pipeline.classify.registry`)."""
    from . import registry

    by_run = {r["run"]: r for r in runs}
    out = {}
    for name, run in data["champions"].items():
        run_id = by_run[run].get("mlflow_run_id")
        if not run_id:
            raise StoreError(f"the champion {run} was trained with --no-track: it has no registered "
                             "model to set the alias on; train it with tracking")
        version = registry.promote(run_id, registry.CHAMPION, name=registry.model_name(*name_parts(name)))
        registry.export_alias(version.name, registry.CHAMPION, Path(models_dir) / name)
        out[name] = run
    return out


def name_parts(task: str) -> tuple[str, str]:
    """'health-plan-prior' -> ('health-plan', 'prior')."""
    domain, _, setting = task.rpartition("-")
    return domain, setting


def evaluate(runs_dir: str | Path, reports_dir: str | Path, models_dir: str | Path) -> dict[str, Any]:
    """The comparison table and champions (see the module doc); returns the table's data."""
    runs = load_runs(runs_dir)
    if not runs:
        raise StoreError(f"no runs in {runs_dir}: run `imr train` first")
    md, data = comparison(runs)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "comparison.md").write_text(md)
    (reports_dir / "comparison.json").write_text(json.dumps(data, indent=2) + "\n")
    (reports_dir / "metrics.json").write_text(json.dumps(flat_metrics(data), indent=2) + "\n")
    data["exported"] = export_champions(data, runs, models_dir)
    return data
