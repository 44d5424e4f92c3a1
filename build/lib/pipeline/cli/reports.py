"""Commands that show the results: compare (the dashboard), ui (MLflow's own)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import Engine, app


@app.command()
def compare(
    out: Path = typer.Option(Path("reports/compare.html"), "--out", "-o", help="The HTML page to write."),
    experiment: str = typer.Option("imr-outcome", "--experiment", "-e", help="Compare this experiment's runs."),
    run_ids: Optional[List[str]] = typer.Option(None, "--runs", help="Compare only these run ids (repeat)."),
    log: bool = typer.Option(True, "--log/--no-log", help="Also log the page to MLflow (a comparison run)."),
) -> None:
    """Write the model comparison dashboard: one self-contained HTML page (opens offline).

    One section per task (domain x setting): its runs table (every metric, best per column
    and champion marked), ROC, precision-recall and reliability curves, confusion matrices,
    metrics by reviewer specialty, treatment category and guideline source; an error browser.

    Example: imr compare --experiment imr-outcome --out reports/compare.html
    """
    from ..io.writers import check_output
    from ..report.dashboard import build_report

    check_output(out)
    runs_arg = [r for x in (run_ids or []) for r in x.replace(",", " ").split()]
    path, compared, cid = build_report(out, experiment, runs_arg or None, log=log)
    typer.echo(f"compare: {len(compared)} runs -> {path}" + (f" (logged to MLflow run {cid})" if cid else ""),
               err=True)


@app.command()
def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port on 127.0.0.1."),
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the project's own store (Ctrl-C stops it).

    Example: imr ui --port 5000
    """
    import subprocess

    from ..store import artifact_root, tracking_uri

    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri(),
           "--default-artifact-root", artifact_root(), "--host", "127.0.0.1", "--port", str(port)]
    typer.echo(f"MLflow UI on http://127.0.0.1:{port} (store {tracking_uri()}); first start takes ~20 s",
               err=True)
    try:
        raise typer.Exit(subprocess.call(cmd))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def analyze(
    paths: List[str] = typer.Argument(..., help="Item rows of imr extract / imr predict (jsonl, parquet, csv), "
                                      "letters (PDF, .txt, folders: tagged on the fly) or DMHC IMR exports."),
    out: Path = typer.Option(Path("reports/corpus.html"), "--out", "-o", help="The HTML report."),
    csv_dir: Optional[Path] = typer.Option(None, "--csv-dir", help="One CSV per table (default: OUT without "
                                           "its extension, a folder)."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (streams) or spark (item rows and DMHC "
                                  "exports only; extract letters first)."),
    master: str = typer.Option("local[2]", "--master", help="Spark master URL for --engine spark."),
) -> None:
    """Overturn rates with Wilson 95% intervals and counts, by treatment, guideline, specialty,
    body region and month (DWC) or category and year (DMHC): one HTML page and a CSV per table.

    Example: imr analyze data/extracted/dwc-items.jsonl --out reports/corpus.html
    """
    from ..io.writers import check_output
    from ..report.corpus import analyze as run

    check_output(out)
    res = run(paths, out, csv_dir, master=master if engine is Engine.spark else None)
    for key in ("dwc", "dmhc"):
        o = res[key]
        if o["items"]:
            typer.echo(f"analyze {key}: {o['decided']} decided items, {o['overturned']} Overturned "
                       f"({100 * o['rate']:.1f}% [{100 * o['low']:.1f}, {100 * o['high']:.1f}])", err=True)
    typer.echo(f"analyze: {res['tables']} tables -> {out}, {res['csv_dir']}/", err=True)
