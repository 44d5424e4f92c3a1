"""``imr evaluate``: the comparison table, the champions, and their one score on the frozen test.

Reads each run's metrics (reports/runs/<run>/metrics.json) and writes the one comparison
table (reports/comparison.md/.json, DVC metrics reports/metrics.json), one section per task
(domain x setting). Each task's champion is chosen on cross-validation only (best macro-F1
for ``rationale``, best AUROC for ``prior``; the majority baseline never), gets the MLflow
registry alias ``champion`` and is exported to ``models/<domain>-<setting>`` from that alias.
Then, and only then, the exported champion scores the task's frozen test split
(`pipeline.classify.examples.TEST_FOLD`) once; the score, with a 95% bootstrap interval
(resampling letters), goes beside cross-validation, into the run and into the model card.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .metrics import LABELS, METRICS, PRIMARY, at_chance, bootstrap_intervals, compute_metrics, fmt

ORDER = {"dwc-rationale": 0, "dwc-prior": 1, "health-plan-prior": 2}


def cell(s: dict[str, float] | None) -> str:
    """``mean ± std [low, high]``: every metric of the comparison table."""
    if not s:
        return fmt(None)
    ci = f" [{s['low']:.3f}, {s['high']:.3f}]" if "low" in s and not math.isnan(s["low"]) else ""
    return fmt(s.get("mean"), s.get("std")) + ci


def load_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for f in sorted(Path(runs_dir).glob("*/metrics.json"))]


def task_of(run: dict[str, Any]) -> str:
    return f"{run['domain']}-{run['setting']}"


def choose_champions(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Task -> the run with the best cross-validated primary metric (never the majority baseline)."""
    champions = {}
    for task in sorted({task_of(r) for r in runs}, key=lambda t: ORDER.get(t, 9)):
        cands = [r for r in runs if task_of(r) == task and r["kind"] != "majority"]
        if cands:
            metric = PRIMARY[cands[0]["setting"]]
            champions[task] = max(cands, key=lambda r: (r["summary"][metric]["mean"], r["kind"] == "transformer"))["run"]
    return champions


def score_test(model_dir: Path, examples_path: str | Path) -> dict[str, Any] | None:
    """The champion folder's metrics on the frozen test examples, with bootstrap intervals."""
    from . import load
    from .examples import TEST_FOLD, read_examples

    test = [e for e in read_examples(examples_path) if e.fold == TEST_FOLD and e.scored]
    if not test:
        return None
    clf = load(model_dir / "artifacts" / "classifier")
    p = clf.predict_proba(test)
    y = [e.label for e in test]
    metrics = compute_metrics(y, p, clf.calibrator.threshold)
    ci = bootstrap_intervals(y, p, clf.calibrator.threshold, [e.group for e in test])
    return {"n": len(test), "n_overturned": int(sum(y)), "letters": len({e.group for e in test}),
            "summary": {k: {"mean": metrics[k], "low": ci[k][0], "high": ci[k][1]} for k in METRICS}}


def _trail(runs: list[dict[str, Any]], champion: dict[str, Any]) -> str:
    """How far the task's best transformer is behind its champion (cross-validated)."""
    metric = PRIMARY[champion["setting"]]
    transformers = [r for r in runs if r["kind"] == "transformer"]
    if not transformers or champion["kind"] == "transformer":
        return ""
    best = max(transformers, key=lambda r: r["summary"][metric]["mean"])
    gap = champion["summary"][metric]["mean"] - best["summary"][metric]["mean"]
    return f" The best transformer ({best['model']}) trails it by {gap:.3f} {LABELS[metric]}."


def comparison(runs: list[dict[str, Any]], champions: dict[str, str],
               tests: dict[str, dict[str, Any] | None]) -> tuple[str, dict[str, Any]]:
    """The comparison table (markdown) and its data (JSON)."""
    by_run = {r["run"]: r for r in runs}
    head = ("| model | n (Overturned) | " + " | ".join(LABELS[k] for k in METRICS) + " | CV train s |\n|"
            + "---|" * (len(METRICS) + 3) + "\n")
    parts = ["# Outcome classifiers\n\nCross-validation (grouped by letter, 5 folds, on the rows outside the "
             "frozen test split): mean ± standard deviation across folds, then a 95% bootstrap interval of the "
             "pooled out-of-fold predictions (resampling letters, 500 draws). Probabilities are Platt-calibrated "
             "on the other folds' scores; the decision threshold (macro-F1) is tuned the same way. AUPRC is for "
             "Overturned. Health-plan rows are scored on `hard_case_subset = false` only. The champion (best "
             "macro-F1 for rationale, best AUROC for prior, on cross-validation) is the only model scored on "
             "the frozen test split, once.\n"]
    for task in sorted({task_of(r) for r in runs}, key=lambda t: ORDER.get(t, 9)):
        mine = sorted([r for r in runs if task_of(r) == task], key=lambda r: r["model"])
        parts.append(f"\n## {task}\n\n" + head + "\n".join(
            f"| {r['model']}{' **champion**' if champions.get(task) == r['run'] else ''} | {r['n']} "
            f"({r['n_overturned']}) | " + " | ".join(cell(r["summary"][k]) for k in METRICS)
            + f" | {r.get('cv_seconds', 0):.0f} |" for r in mine) + "\n")
        champ = by_run.get(champions.get(task, ""))
        test = tests.get(task)
        if champ and test:
            s = test["summary"]
            chance = at_chance(test)
            parts.append(f"\nFrozen test split ({test['n']} items of {test['letters']} letters or cases, "
                         f"{test['n_overturned']} Overturned), champion {champ['model']}: "
                         + ", ".join(f"{LABELS[k]} {s[k]['mean']:.3f} [{s[k]['low']:.3f}, {s[k]['high']:.3f}]"
                                     for k in ("auroc", "macro_f1", "accuracy", "ece"))
                         + (". **At chance on the frozen test split: its AUROC interval includes 0.5.**"
                            if chance else ".") + _trail(mine, champ) + "\n")
        elif champ:
            parts.append(_trail(mine, champ).strip() + "\n" if _trail(mine, champ) else "")
    data = {"runs": [{k: r[k] for k in ("run", "domain", "setting", "model", "kind", "n", "n_overturned", "summary",
                                        "cv_seconds", "fit_seconds", "mlflow_run_id") if k in r} for r in runs],
            "champions": champions, "test": tests}
    return "".join(parts), data


def flat_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """DVC metrics: {run: {metric: mean, metric_std, metric_low, metric_high}} and
    {task-test: {metric: value, ...}} for the champions' frozen-test scores."""
    def r4(v):
        return None if v is None or math.isnan(v) else round(v, 4)

    out: dict[str, Any] = {}
    for r in data["runs"]:
        out[r["run"]] = {f"{k}{'' if s == 'mean' else '_' + s}": r4(v.get(s)) for k, v in r["summary"].items()
                         for s in ("mean", "std", "low", "high") if s in v}
    for task, test in data["test"].items():
        if test:
            out[f"{task}-test"] = {f"{k}{'' if s == 'mean' else '_' + s}": r4(v[s])
                                   for k, v in test["summary"].items() for s in ("mean", "low", "high")}
    return out


def evaluate(runs_dir: str | Path, reports_dir: str | Path, models_dir: str | Path) -> dict[str, Any]:
    """The comparison table, champions and frozen-test scores (see the module doc)."""
    from . import registry
    from .cards import write_card

    runs = load_runs(runs_dir)
    if not runs:
        raise StoreError(f"no runs in {runs_dir}: run `imr train` first")
    champions = choose_champions(runs)
    by_run = {r["run"]: r for r in runs}
    tests, exported = {}, {}
    for task, run in champions.items():
        r = by_run[run]
        if not r.get("mlflow_run_id"):
            raise StoreError(f"the champion {run} was trained with --no-track: it has no registered model to "
                             "set the alias on; train it with tracking")
        version = registry.promote(r["mlflow_run_id"], registry.CHAMPION, name=registry.model_name(r["domain"],
                                                                                                    r["setting"]))
        folder = registry.export_alias(version.name, registry.CHAMPION, Path(models_dir) / task)
        tests[task] = score_test(folder, r["examples"]) if r.get("examples") else None
        registry.log_test(r["mlflow_run_id"], tests[task])
        write_card(folder, version, r, tests[task], [x for x in runs if task_of(x) == task])
        exported[task] = run
    md, data = comparison(runs, champions, tests)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "comparison.md").write_text(md)
    (reports_dir / "comparison.json").write_text(json.dumps(data, indent=2) + "\n")
    (reports_dir / "metrics.json").write_text(json.dumps(flat_metrics(data), indent=2) + "\n")
    data["exported"] = exported
    return data
