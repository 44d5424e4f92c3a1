"""The `imr` command line: one thin command per stage."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Structured data and outcome predictions from IMR determination letters.")


@app.callback()
def _root() -> None:
    """IMR letters to structured data, entities and outcome predictions."""


def _progress(iterable, total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="file", disable=quiet or total <= 1,
                file=sys.stderr)


def _letters_to_jsonl(paths, out: Path, errors: Optional[Path], stage: str, quiet: bool,
                      convert, counted: str) -> None:
    """The shape of `parse` and `tag`: read every record under ``paths``, write
    ``convert(letters)`` (per file) to ``out`` and bad inputs to ``errors``, print the
    counts; exit 1 only if nothing came out. ``counted``: the list each record's size is."""
    from .records import AtomicJsonl
    from .schema import ParseError
    from .sources import expand_paths, read_records

    files = expand_paths(paths)
    errors = errors or out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
    n = 0
    with AtomicJsonl(out) as good, AtomicJsonl(errors) as bad:
        for path in _progress(files, len(files), stage, quiet):
            letters = []
            for rec in read_records([path]):
                if isinstance(rec, ParseError):
                    bad.write(rec.to_dict())
                else:
                    letters.append(rec)
            for record in convert(letters):
                good.write(record)
                n += len(record[counted])
    typer.echo(f"{stage}: {good.count + bad.count} records read from {len(files)} files, "
               f"{good.count} letters, {n} {counted}, {bad.count} errors -> {out}, {errors}",
               err=True)
    if good.count == 0:
        raise typer.Exit(1)


@app.command()
def parse(
    paths: List[Path] = typer.Argument(..., help="PDF or .txt letters, folders of them, or DMHC IMR CSV exports."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file: one parsed letter (with its items) per line."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="JSONL file for inputs that could not be parsed "
                                          "(source, error code, message). Default: OUT with .errors.jsonl."),
    with_text: bool = typer.Option(False, "--with-text", help="Also store each letter's full text."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Parse IMR letters into one JSON record per letter, each with its disputed items.

    Fields: case_number, source, layout, dates (ISO), priority, licensure, specialty,
    case_summary and items (index, item, decision, claims_administrator_guideline,
    maximus_guideline, rationale, original_request, authorized). Bad inputs become
    error records and the run goes on; exit status is 1 only if nothing parsed.

    Example: imr parse data/raw/dwc_letters/pdf --out data/parsed/letters.jsonl
    """
    _letters_to_jsonl(paths, out, errors, "parse", quiet,
                      lambda letters: (x.to_dict(with_text=with_text) for x in letters), "items")


@app.command()
def promote(
    ref: str = typer.Argument(..., help="A run id, a run name, or a registered version: N, NAME/N, models:/NAME/N."),
    alias: str = typer.Option("champion", "--alias", "-a", help="champion (serves), challenger, or any alias."),
    name: Optional[str] = typer.Option(None, "--name", help="Registered model name (when the store has several)."),
) -> None:
    """Point a model-registry alias at a trained model: `imr predict --model champion` then uses it.

    champion and challenger are unique in the store: promoting a new champion moves the alias.

    Example: imr promote 4f0c2a9e1b7d4c3e8a5b6d7e8f9a0b1c --alias champion
    """
    from .registry import promote as _promote

    try:
        v = _promote(ref, alias, name)
    except (LookupError, ValueError) as e:
        typer.echo(f"promote: {e}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{v.name} version {v.version} (run {v.run_id}) is now @{alias}: models:/{v.name}@{alias}")


@app.command()
def runs(
    sort: Optional[str] = typer.Option(None, "--sort", "-s", help="A metric (auroc, macro_f1, ece, ...) or "
                                       "date/model/setting: best first (lowest first for ECE-like metrics)."),
    ascending: Optional[bool] = typer.Option(None, "--asc/--desc", help="Force the sort order."),
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e", help="Only this MLflow experiment."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m", help="Metric columns to show (repeat); "
                                               "default: the classifier metrics."),
) -> None:
    """List the training runs as a table: model, setting, metrics (mean ±std across folds), date, aliases.

    Example: imr runs --sort auroc
    """
    import shutil

    from .registry import run_rows, runs_table, sort_rows

    rows = run_rows(experiment)
    try:
        rows = sort_rows(rows, sort, ascending)
    except KeyError as e:
        typer.echo(f"runs: {e.args[0]}", err=True)
        raise typer.Exit(1)
    typer.echo(runs_table(rows, metric or None, width=shutil.get_terminal_size((160, 20)).columns))


@app.command()
def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port on 127.0.0.1."),
) -> None:
    """Start the MLflow UI on 127.0.0.1 against the project's own store (Ctrl-C stops it).

    Example: imr ui --port 5000
    """
    import subprocess

    from .registry import artifact_root, tracking_uri

    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri(),
           "--default-artifact-root", artifact_root(), "--host", "127.0.0.1", "--port", str(port)]
    typer.echo(f"MLflow UI on http://127.0.0.1:{port} (store {tracking_uri()}); first start takes ~20 s",
               err=True)
    try:
        raise typer.Exit(subprocess.call(cmd))
    except KeyboardInterrupt:
        raise typer.Exit(0)


@app.command()
def compare(
    out: Path = typer.Option(Path("reports/compare.html"), "--out", "-o", help="The HTML page to write."),
    experiment: Optional[str] = typer.Option(None, "--experiment", "-e", help="Compare this experiment's runs."),
    run_ids: Optional[List[str]] = typer.Option(None, "--runs", help="Compare these run ids (repeat)."),
    log: bool = typer.Option(True, "--log/--no-log", help="Also log the page to MLflow (a comparison run)."),
) -> None:
    """Write the model comparison dashboard: one self-contained HTML page (opens offline).

    Runs table (every metric, mean ±std across folds, best marked, champion marked), ROC,
    precision-recall and reliability curves, confusion matrices, metrics by reviewer
    specialty, treatment type and guideline source, and an error browser. Reads each run's
    oof_predictions.jsonl artifact.

    Example: imr compare --experiment imr --out reports/compare.html
    """
    from .report import build_report

    runs_arg = [r for x in (run_ids or []) for r in x.replace(",", " ").split()]
    try:
        path, compared, cid = build_report(out, experiment, runs_arg or None, log=log)
    except LookupError as e:
        typer.echo(f"compare: {e}", err=True)
        raise typer.Exit(1)
    typer.echo(f"compare: {len(compared)} runs -> {path}" + (f" (logged to MLflow run {cid})" if cid else ""),
               err=True)


@app.command()
def split(
    letters: Path = typer.Option(Path("data/parsed/letters.jsonl"), "--letters", help="Parsed letters (imr parse)."),
    health_plan: Path = typer.Option(Path("data/raw/imr_appeals_persius/case_backgrounds.csv"), "--health-plan",
                                     help="Health-plan case backgrounds CSV."),
    out: Path = typer.Option(Path("data/examples"), "--out", "-o", help="Folder for <domain>-<setting>.jsonl."),
    folds: int = typer.Option(5, "--folds", help="Number of grouped folds."),
    seed: int = typer.Option(13, "--seed", help="Fold assignment seed."),
) -> None:
    """Build classifier examples (one per item per setting) with grouped, stratified folds.

    Writes dwc-rationale.jsonl, dwc-prior.jsonl (folds grouped by letter) and
    health-plan-prior.jsonl (hard cases: training only, fold -1). Prior inputs pass the
    leakage guard (no verdict phrase, no rationale text).

    Example: imr split --letters data/parsed/letters.jsonl --out data/examples
    """
    from .examples import build_all

    counts = build_all(letters, health_plan, out, k=folds, seed=seed)
    typer.echo("split: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" -> {out}", err=True)


@app.command()
def train(
    config: Path = typer.Option(..., "--config", "-c", help="configs/<model>.yaml"),
    setting: Optional[str] = typer.Option(None, "--setting", "-s", help="prior or rationale (default: all the "
                                          "config's settings)."),
    examples: Optional[Path] = typer.Option(None, "--examples", help="Examples JSONL (default: the config's)."),
    runs_dir: Path = typer.Option(Path("reports/runs"), "--runs-dir", help="Per-run metrics and plots."),
    candidates: Path = typer.Option(Path("models/candidates"), "--candidates", help="Trained models (MLflow "
                                    "pyfunc folders), one per run."),
    track: bool = typer.Option(True, "--track/--no-track", help="Log to MLflow (MLFLOW_TRACKING_URI, else "
                               "the repo's sqlite store) and register the model."),
) -> None:
    """Cross-validate a model (5 grouped folds), fit it on all data, log the run to MLflow.

    Example: imr train --config configs/transformer.yaml --setting prior
    """
    import yaml

    from .tracking import train as _train

    settings = [setting] if setting else yaml.safe_load(config.read_text()).get("settings", ["prior"])
    for s in settings:
        r = _train(config, s, examples, runs_dir, candidates, track=track,
                   log=lambda m: typer.echo(m, err=True))
        summ = r["summary"]
        typer.echo(f"{r['run']}: " + ", ".join(f"{k} {summ[k]['mean']:.3f}±{summ[k]['std']:.3f}"
                                               for k in ("macro_f1", "auroc", "ece"))
                   + f" (CV {r['cv_seconds']:.0f}s + fit {r['fit_seconds']:.0f}s) -> {r['model_dir']}", err=True)


@app.command()
def evaluate(
    runs_dir: Path = typer.Option(Path("reports/runs"), "--runs-dir", help="Where imr train wrote its runs."),
    reports: Path = typer.Option(Path("reports"), "--reports", help="comparison.md/.json and metrics.json."),
    candidates: Path = typer.Option(Path("models/candidates"), "--candidates", help="Trained models."),
    models: Path = typer.Option(Path("models"), "--models", help="Champions go to MODELS/<domain>-<setting>."),
) -> None:
    """The comparison table of every model and setting (mean ± std across folds); exports
    each setting's champion to models/<domain>-<setting>.

    Example: imr evaluate --runs-dir reports/runs --reports reports
    """
    from .evaluate import evaluate as _evaluate

    data = _evaluate(runs_dir, reports, candidates, models)
    typer.echo((reports / "comparison.md").read_text())
    for name, run in data["exported"].items():
        typer.echo(f"champion {name}: {run} -> {models / name}", err=True)


@app.command()
def predict(
    paths: List[str] = typer.Argument(..., help="Letters (PDF, .txt, folders), DMHC IMR CSV exports, or "
                                      "CSV/JSONL with id,text (with --engine spark also hdfs://, s3a:// ...)."),
    model: str = typer.Option(..., "--model", "-m", help="An MLflow model folder (models/dwc-prior), a "
                              "registry reference (champion, NAME@ALIAS, models:/NAME@champion, runs:/ID/model), "
                              "or a folder from `imr export`."),
    out: Path = typer.Option(..., "--out", "-o", help="One row per item (or row): a file (jsonl, parquet, csv); "
                             "a Parquet folder with --engine spark."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="jsonl | parquet | csv (default: OUT's "
                                      "extension, else jsonl; always parquet with --engine spark)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="JSONL for inputs that could not be read "
                                          "(default: OUT with .errors.jsonl)."),
    setting: Optional[str] = typer.Option(None, "--setting", help="rationale | prior: override the model's own."),
    engine: str = typer.Option("local", "--engine", help="local (streams, resumable) | spark."),
    master: str = typer.Option("local[2]", "--master", help="Spark master URL for --engine spark: local[N], "
                               "spark://HOST:7077, yarn, k8s://https://HOST:PORT."),
    batch_letters: int = typer.Option(32, "--batch-letters", help="Letters per batch (memory bound and "
                                      "resume granularity)."),
    restart: bool = typer.Option(False, "--restart", help="Discard an interrupted run's work and start over."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (cron jobs)."),
) -> None:
    """Predict Upheld / Overturned per disputed item (letters) or per row (CSV/JSONL id,text).

    Streams any number of letters (parse -> tag -> classify) in bounded batches. Each row:
    source, id, case_number, index, item, model, setting, p_overturned, prediction,
    threshold, the letter's decision and parsed fields, and the normalized guidelines.
    Bad inputs go to the errors file (source, error/code, message, stage). Killed at any
    moment, the same command resumes where it stopped (work in OUT.parts/); OUT appears,
    whole, only at the end. Prior-setting inputs pass the leakage guard.

    Example: imr predict data/raw/dwc_letters/pdf --model models/dwc-prior --out preds.parquet
    """
    if quiet:
        from .models import quiet_libraries

        quiet_libraries()
    if engine == "spark":
        from .spark import predict_spark

        summary = predict_spark(paths, model, out, errors, master=master, setting=setting, quiet=quiet)
    elif engine == "local":
        from .batch import JobMismatch, predict as run_batch
        from .models import load_scorer

        try:
            scorer = load_scorer(model, setting=setting)
            summary = run_batch(paths, scorer, out, errors, fmt=fmt, batch_letters=batch_letters,
                                quiet=quiet, restart=restart, model_ref=model)
        except (JobMismatch, ValueError, FileNotFoundError, LookupError) as e:
            typer.echo(f"predict: {e}", err=True)
            raise typer.Exit(2)
    else:
        typer.echo(f"predict: --engine must be local or spark, not {engine!r}", err=True)
        raise typer.Exit(2)
    typer.echo(summary.line(), err=True)
    if summary.items_out == 0:
        raise typer.Exit(1)


@app.command()
def tag(
    paths: List[Path] = typer.Argument(..., help="PDF or .txt letters, folders of them, or DMHC IMR CSV exports."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file: one tagged letter per line."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="JSONL file for inputs that could not be parsed. "
                                          "Default: OUT with .errors.jsonl."),
    model: Optional[Path] = typer.Option(None, "--model", help="Trained tagger (imr train-tagger). "
                                         "Default: models/tagger, or the rules alone if it is missing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tag letters with DIAGNOSIS / TREATMENT / GUIDELINE entities and normalized guidelines.

    Per letter: case_number, source, entities (label, text, start, end, section, item,
    negated) and items (index, item, decision, claims_administrator_guideline and
    maximus_guideline normalized to source/chapter/page/section). Bad inputs become
    error records as in `imr parse`; exit status is 1 only if nothing was tagged.

    Example: imr tag data/raw/dwc_letters/text --out data/tagged/entities.jsonl
    """
    from .nlp.build import load_tagger
    from .nlp.tag import tag_letters

    nlp = load_tagger(model)
    _letters_to_jsonl(paths, out, errors, "tag", quiet, lambda letters: tag_letters(nlp, letters),
                      "entities")


@app.command("train-tagger")
def train_tagger(
    model: Path = typer.Option(Path("models/tagger"), "--model", help="Where to save the tagging pipeline."),
    corpus: Path = typer.Option(Path("data/nlp"), "--corpus", help="Where to write the training DocBin corpora."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override training.max_steps of configs/ner.cfg."),
) -> None:
    """Train the NER on the hand-labelled development letters (data/dev) plus silver labels
    (the entity rules on the other non-gold letters), fit the span refiner on the same
    hand labels, and save the whole tagging pipeline (rules + NER + refiner). The gold
    letters are never used.

    Example: imr train-tagger --model models/tagger
    """
    from .nlp.train import train_tagger as run

    overrides = {"training.max_steps": max_steps} if max_steps else None
    info = run(model_dir=model, corpus_dir=corpus, overrides=overrides)
    typer.echo(f"train-tagger: {info['letters']} letters, {info['docs']} docs, span refiner "
               f"{info['refiner']}, {info['seconds']} s -> {info['model']}", err=True)


@app.command("evaluate-tagger")
def evaluate_tagger(
    gold: Optional[List[Path]] = typer.Option(None, "--gold", help="Annotation JSONL file(s) or folder(s). "
                                              "Default: the --set folder."),
    which: str = typer.Option("gold", "--set", help="gold (data/gold, scores only) or dev (data/dev)."),
    show_errors: bool = typer.Option(False, "--errors", help="Also list the missed / spurious / boundary "
                                     "errors (refused on the gold set: rule work uses data/dev)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Tagger to score. Default: models/tagger, "
                                         "or the rules alone if it is missing."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the scores as JSON here."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log to MLflow."),
) -> None:
    """Per-label precision, recall and F1 (exact span and overlap) on the gold letters
    (or the development letters, --set dev), logged to MLflow (MLFLOW_TRACKING_URI,
    default sqlite:///mlflow.db).

    Example: imr evaluate-tagger --model models/tagger
    Example: imr evaluate-tagger --set dev --errors --no-mlflow
    """
    import json

    from .nlp.build import load_tagger
    from .nlp.gold import GOLD_DIR, SETS
    from .nlp.score import errors, evaluate as run, format_errors, format_scores, log_mlflow

    if which not in SETS:
        raise typer.BadParameter(f"--set must be one of {sorted(SETS)}")
    gold = gold or [SETS[which]]
    if show_errors and any(Path(g).resolve().is_relative_to(GOLD_DIR.resolve()) for g in gold):
        raise typer.BadParameter("--errors is for the development set (--set dev): the gold set "
                                 "is scored, never inspected")
    nlp = load_tagger(model)
    scores = run(nlp, gold)
    typer.echo(format_scores(scores))
    if show_errors:
        typer.echo(format_errors(errors(nlp, gold)))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(scores, indent=2), encoding="utf-8")
    if not no_mlflow:
        run_id = log_mlflow(scores, {"model": str(model or "models/tagger"),
                                     "pipeline": ",".join(nlp.pipe_names),
                                     "set": which if not gold or gold == [SETS[which]] else "custom",
                                     "gold_letters": scores["_letters"]})
        typer.echo(f"evaluate-tagger: logged to MLflow run {run_id}", err=True)


@app.command()
def export(
    model: str = typer.Argument(..., help="A transformer model: folder in models/, MLflow URI, registry reference."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Export folder (default: models/<name>-onnx)."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export to ONNX (the only format)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: also write a dynamically "
                                           "quantized model (served by default)."),
) -> None:
    """Export the transformer classifier to ONNX for ONNX Runtime (`imr predict --model OUT`).

    Example: imr export models/dwc-prior --onnx --quantize int8 --out models/dwc-prior-onnx
    """
    from .export import export as run_export

    if not onnx:
        typer.echo("export: ONNX is the only export format", err=True)
        raise typer.Exit(2)
    out = out or Path("models") / (Path(model.rstrip("/")).name.replace("@", "-").replace(":", "-") + "-onnx")
    try:
        path = run_export(model, out, quantize=quantize)
    except (ValueError, FileNotFoundError, LookupError) as e:
        typer.echo(f"export: {e}", err=True)
        raise typer.Exit(1)
    typer.echo(f"export: {model} -> {path} ({', '.join(sorted(p.name for p in path.glob('*.onnx')))})", err=True)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
