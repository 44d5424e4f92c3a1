"""Commands that train and choose the outcome classifiers: split, train, evaluate, promote, runs."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer

from ..classify.metrics import METRICS
from . import Setting, app

SortKey = enum.Enum("SortKey", {k: k for k in (*METRICS, "date", "model", "task", "name")}, type=str)
Metric = enum.Enum("Metric", {k: k for k in METRICS}, type=str)


@app.command()
def split(
    items: Path = typer.Option(Path("data/extracted/dwc-items.jsonl"), "--items", help="DWC item rows "
                               "(imr extract)."),
    health_plan: Path = typer.Option(Path("data/raw/imr_appeals_persius/case_backgrounds.csv"), "--health-plan",
                                     help="Health-plan case backgrounds CSV."),
    health_plan_items: Optional[Path] = typer.Option(None, "--health-plan-items", help="The backgrounds' item "
                                                     "rows (imr extract), for the structured model's facets."),
    out: Path = typer.Option(Path("data/examples"), "--out", "-o", help="Folder for <domain>-<setting>.jsonl."),
    folds: int = typer.Option(5, "--folds", min=2, help="Number of grouped folds."),
    seed: int = typer.Option(13, "--seed", help="Fold and test split seed."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.0, max=0.5, help="The frozen test split: "
                                        "the latest letters by decision date, a stratified share of health-plan rows."),
) -> None:
    """Build classifier examples (one per item per setting), a frozen test split and grouped folds.

    Writes dwc-rationale.jsonl, dwc-prior.jsonl (folds grouped by letter) and
    health-plan-prior.jsonl (hard cases: training only). The frozen test split (fold -2)
    is never trained or chosen on; `imr evaluate` scores each champion on it once. Prior
    inputs pass the leakage guard (no verdict phrase, no rationale text).

    Example: imr split --items data/extracted/dwc-items.jsonl --out data/examples
    """
    from ..classify.examples import build_all
    from ..errors import InputError

    for p, flag in ((items, "--items"), (health_plan, "--health-plan"), (health_plan_items, "--health-plan-items")):
        if p is not None and not p.is_file():
            raise InputError(f"{flag} {p} does not exist" + (": run `imr extract` first" if "items" in flag else ""))
    counts = build_all(items, health_plan, out, k=folds, seed=seed, test_fraction=test_fraction,
                       health_plan_items=health_plan_items)
    typer.echo("split: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" -> {out}", err=True)


@app.command()
def train(
    config: Path = typer.Option(..., "--config", "-c", help="configs/<model>.yaml"),
    setting: Optional[Setting] = typer.Option(None, "--setting", "-s", help="Default: every setting of the config."),
    examples: Optional[Path] = typer.Option(None, "--examples", help="Examples JSONL (default: the config's)."),
    runs_dir: Path = typer.Option(Path("reports/runs"), "--runs-dir", help="Per-run metrics and plots."),
    track: bool = typer.Option(True, "--track/--no-track", help="Log to MLflow and register the model "
                               "(--no-track: cross-validation only, nothing registered)."),
) -> None:
    """Cross-validate a model (grouped folds), fit it on all data, log the run to MLflow.

    Example: imr train --config configs/tfidf_lr.yaml --setting prior
    """
    from ..classify.config import read_config
    from ..classify.tracking import train as _train

    settings = [setting.value] if setting else read_config(config).settings
    for s in settings:
        r = _train(config, s, examples, runs_dir, track=track, log=lambda m: typer.echo(m, err=True))
        summ = r["summary"]
        typer.echo(f"{r['run']}: " + ", ".join(f"{k} {summ[k]['mean']:.3f}±{summ[k]['std']:.3f}"
                                               for k in ("macro_f1", "auroc", "ece"))
                   + f" (CV {r['cv_seconds']:.0f}s + fit {r['fit_seconds']:.0f}s)"
                   + (f" -> MLflow run {r['mlflow_run_id']}" if track else ""), err=True)


@app.command()
def evaluate(
    runs_dir: Path = typer.Option(Path("reports/runs"), "--runs-dir", help="Where imr train wrote its runs."),
    reports: Path = typer.Option(Path("reports"), "--reports", help="comparison.md/.json and metrics.json."),
    models: Path = typer.Option(Path("models"), "--models", help="Champions go to MODELS/<domain>-<setting>."),
) -> None:
    """Compare every trained model and choose each task's champion.

    Writes the comparison table (reports/comparison.md/.json, DVC metrics), sets the
    registry alias champion on each task's best run and exports it to
    models/<domain>-<setting>.

    Example: imr evaluate --runs-dir reports/runs --reports reports --models models
    """
    from ..classify.evaluate import evaluate as _evaluate

    data = _evaluate(runs_dir, reports, models)
    typer.echo((reports / "comparison.md").read_text())
    for name, run in data["exported"].items():
        typer.echo(f"champion {name}: {run} -> {models / name}", err=True)


@app.command()
def promote(
    ref: str = typer.Argument(..., help="A run id, a run name, or a registered version: N, NAME/N, models:/NAME/N."),
    alias: str = typer.Option("champion", "--alias", "-a", help="champion (serves; re-exports models/<task>), "
                              "challenger, or any alias."),
    name: Optional[str] = typer.Option(None, "--name", help="Registered model name (when the store has several)."),
    models: Path = typer.Option(Path("models"), "--models", help="Where the champion's folder is re-exported."),
) -> None:
    """Point a model-registry alias (champion, challenger) at a trained model.

    For champion, models/<domain>-<setting> is re-exported from it, so that the folder
    and the alias never disagree.

    Example: imr promote dwc-prior-tfidf_lr --alias champion
    """
    from ..classify import registry

    v = registry.promote(ref, alias, name)
    typer.echo(f"{v.name} version {v.version} (run {v.run_id}) is now @{alias}: models:/{v.name}@{alias}")
    if alias == registry.CHAMPION:
        folder = models / v.name.removeprefix("imr-")
        registry.export_alias(v.name, alias, folder)
        typer.echo(f"promote: exported to {folder}", err=True)


@app.command()
def runs(
    sort: Optional[SortKey] = typer.Option(None, "--sort", "-s", help="Best first by a metric (lowest first for "
                                           "ece), or date / model / task / name."),
    ascending: Optional[bool] = typer.Option(None, "--asc/--desc", help="Force the sort order."),
    experiment: str = typer.Option("imr-outcome", "--experiment", "-e", help="The MLflow experiment."),
    metric: Optional[List[Metric]] = typer.Option(None, "--metric", "-m", help="Metric columns (repeat); "
                                                  "default: all six."),
    card: Optional[str] = typer.Option(None, "--card", help="Print the model card of a task's champion "
                                       "(dwc-prior) or of a models/ folder instead."),
) -> None:
    """List the training runs as a table, best first by any metric.

    Columns: model, task, metrics (mean ± std across folds, 95% interval), frozen-test
    AUROC, date, registry aliases.

    Example: imr runs --sort auroc
    """
    from ..report.runs import run_rows, runs_table, sort_rows

    if card:
        from ..classify.cards import read_card

        typer.echo(read_card(card))
        return
    rows = sort_rows(run_rows(experiment), sort.value if sort else None, ascending)
    typer.echo(runs_table(rows, [m.value for m in metric] if metric else METRICS))
