"""Commands that turn letters into records: parse, tag, train-tagger, evaluate-tagger."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer

from . import Engine, Format, app, finish, progress_off

PATHS = typer.Argument(..., help="PDF or .txt letters, folders of them (recursive), DMHC IMR CSV exports, "
                                 "or CSV/JSONL tables with a text column (and an id column).")
ERRORS = typer.Option(None, "--errors", help="JSONL file for the records that could not be used (source, "
                                            "code, message, stage). Default: OUT with .errors.jsonl.")
RESTART = typer.Option(False, "--restart", help="Discard an interrupted run's work (OUT.parts/) and start over.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


class AnnotationSet(str, enum.Enum):
    gold = "gold"
    dev = "dev"
    health_plan_dev = "health-plan-dev"
    health_plan_test = "health-plan-test"


@app.command()
def parse(
    paths: List[Path] = PATHS,
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file: one parsed letter (with its items) per line."),
    errors: Optional[Path] = ERRORS,
    with_text: bool = typer.Option(False, "--with-text", help="Also store each letter's full text."),
    restart: bool = RESTART,
    quiet: bool = QUIET,
) -> None:
    """Parse IMR letters into one JSON record per letter, each with its disputed items.

    Fields: case_number, source, layout, dates (ISO), priority, licensure, specialty,
    case_summary and items (index, item, decision, claims_administrator_guideline,
    maximus_guideline, rationale, original_request, authorized). Records that cannot be
    parsed go to the errors file and the run goes on; killed, the same command resumes.

    Example: imr parse data/raw/dwc_letters/text --out data/parsed/letters.jsonl
    """
    from ..io.jobs import Job, run_job
    from ..io.schema import Letter, ParseError

    def step(records):
        rows = [r.to_dict(with_text=with_text) for r in records if isinstance(r, Letter)]
        errs = [ParseError(r.source, "not-a-letter", "an id,text table row, not a letter: `imr parse` reads "
                                                     "letters and DMHC exports").to_dict()
                for r in records if not isinstance(r, Letter)]
        return rows, errs

    progress_off(quiet)
    job = Job("parse", out, errors, "jsonl", identity={"with_text": with_text}, restart=restart, quiet=quiet,
              unit="letters")
    finish(run_job(paths, step, job))


@app.command()
def tag(
    paths: List[Path] = PATHS,
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file: one tagged letter (or text row) per line."),
    errors: Optional[Path] = ERRORS,
    model: Optional[Path] = typer.Option(None, "--model", help="A saved tagger (imr train-tagger). Default: "
                                         "models/tagger, or the rules alone if it is missing."),
    restart: bool = RESTART,
    quiet: bool = QUIET,
) -> None:
    """Tag letters with DIAGNOSIS / TREATMENT / GUIDELINE entities and normalized guidelines.

    Per letter: case_number, source, entities (label, text, start, end, section, item,
    negated) and items (index, item, decision, claims_administrator_guideline and
    maximus_guideline normalized to source/chapter/page/section). A text row gives its id
    and entities. Records the tagger cannot read go to the errors file, as in `imr parse`.

    Example: imr tag data/raw/seed --out data/tagged/seed.jsonl
    """
    from ..io.jobs import Job, run_job
    from ..io.writers import check_output, default_errors_path
    from ..nlp.build import load_tagger
    from ..nlp.tag import tag_batch

    progress_off(quiet)
    check_output(out, errors or default_errors_path(out))  # before the tagger is loaded
    nlp = load_tagger(model)
    job = Job("tag", out, errors, "jsonl", identity={"model": str(model or "default")}, batch_size=16,
              restart=restart, quiet=quiet, unit="records")
    finish(run_job(paths, lambda recs: tag_batch(nlp, recs), job))


@app.command()
def extract(
    paths: Optional[List[str]] = typer.Argument(None, help="Letters, folders, DMHC exports or id,text tables, as "
                                                "for `imr parse` (with --engine spark also hdfs://, s3a:// ...)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="One row per disputed item: jsonl, parquet or "
                                       "csv (by extension or --format); a Parquet folder with --engine spark."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Default: OUT's extension, else jsonl."),
    errors: Optional[Path] = ERRORS,
    model: Optional[Path] = typer.Option(None, "--model", help="The tagger (default: models/tagger, or the "
                                         "rules alone if it is missing)."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (streams, resumable) or spark."),
    master: str = typer.Option("local[2]", "--master", help="Spark master URL for --engine spark."),
    schema: bool = typer.Option(False, "--schema", help="Print the row schema (JSON Schema) and exit."),
    restart: bool = RESTART,
    quiet: bool = QUIET,
) -> None:
    """One row per disputed item: parsed fields, treatment mentions and category, diagnoses.

    Each row holds the item's parsed fields and both guideline lines normalized, the item's
    own TREATMENT mention(s) with a treatment category, and the case's DIAGNOSIS mentions
    with a body region (negated ones in their own list). `imr predict` writes the same rows
    with the scores. Records that cannot be read go to the errors file; killed, the same
    command resumes.

    Example: imr extract data/raw/dwc_letters/text --out data/extracted/dwc-items.jsonl
    """
    import json

    from ..errors import InputError
    from ..extract.records import EXTRACT_FIELDS, json_schema
    from ..io.writers import check_output, default_errors_path

    if schema:
        typer.echo(json.dumps(json_schema(EXTRACT_FIELDS, "imr item row"), indent=2))
        return
    if not paths or out is None:
        raise InputError("give the inputs (PATHS...) and --out")
    progress_off(quiet)
    if engine is Engine.spark:
        from ..serve.spark import run_spark

        finish(run_spark("extract", paths, out, errors, master, tagger=model))
        return
    from ..extract.items import extract as run
    from ..nlp.build import load_tagger

    check_output(out, errors or default_errors_path(out))  # before the tagger is loaded
    finish(run(paths, load_tagger(model), out, errors, fmt.value if fmt else None, quiet=quiet,
               restart=restart, model_ref=str(model or "default")))


class TaggerConfig(str, enum.Enum):
    fast = "fast"
    accurate = "accurate"


@app.command("train-tagger")
def train_tagger(
    config: TaggerConfig = typer.Option(TaggerConfig.fast, "--config", help="fast (configs/tagger_fast.cfg: the "
                                        "rules and two clinical vocabularies as features of one small NER; "
                                        "minutes) or accurate (pipeline/nlp/pipeline_accurate.cfg: a frozen "
                                        "all-mpnet-base-v2 and BiLSTM-CRF heads; ~60 min of encoding on 2 CPUs "
                                        "the first time, then ~50 min for its two heads with the feature cache)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Where to save the tagging pipeline. Default: "
                                         "models/tagger (fast), models/tagger-accurate (accurate)."),
    corpus: Path = typer.Option(Path("data/nlp"), "--corpus", help="Working folder: the fast config's training "
                                "DocBins, the accurate config's encoder feature cache (features/)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="fast: override training.max_steps "
                                            "of configs/tagger_fast.cfg."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="accurate: override the head's epochs."),
) -> None:
    """Train a tagger on the hand-labelled texts and save the whole spaCy pipeline.

    Both configurations learn from the development letters (data/dev) and the hand-annotated
    health-plan texts of the train and dev parts (data/annotations/health_plan); the gold
    letters and the frozen health-plan test part are never used. GUIDELINE comes from the
    rules in both; DIAGNOSIS and TREATMENT from the learned model.

    Example: imr train-tagger --model models/tagger
    """
    if config is TaggerConfig.accurate:
        from ..nlp.train_transformer import train_transformer

        info = train_transformer(model_dir=model, cache_dir=corpus / "features",
                                 **({"epochs": epochs} if epochs else {}))
        typer.echo(f"train-tagger --config accurate: {info['texts']} texts, {info['words']} words, "
                   f"{info['seconds']} s -> {info['model']}", err=True)
        return
    from ..nlp.train import train_fast_tagger

    overrides = {"training.max_steps": max_steps} if max_steps else None
    info = train_fast_tagger(model_dir=model, corpus_dir=corpus, overrides=overrides)
    typer.echo(f"train-tagger --config fast: {info['letters']} letters, {info['docs']} docs, "
               f"{info['seconds']} s -> {info['model']}", err=True)


@app.command("evaluate-tagger")
def evaluate_tagger(
    gold: Optional[List[Path]] = typer.Option(None, "--gold", help="Annotation JSONL file(s) or folder(s). "
                                              "Default: the --set folder."),
    which: AnnotationSet = typer.Option(AnnotationSet.gold, "--set", help="gold (data/gold letters: scores "
                                        "only), dev (data/dev letters), or the hand-annotated health-plan texts "
                                        "health-plan-dev / health-plan-test (the frozen part: scores only)."),
    show_errors: bool = typer.Option(False, "--errors", help="Also list the missed / spurious / boundary "
                                     "errors (refused on the scored-only sets: rule work uses dev)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Tagger to score. Default: models/tagger, "
                                         "or the rules alone if it is missing."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the scores as JSON here."),
    no_mlflow: bool = typer.Option(False, "--no-mlflow", help="Do not log to MLflow."),
) -> None:
    """Score a tagger: per-label precision, recall and F1, exact span and overlap.

    On the gold letters, the development letters (--set dev) or the hand-annotated
    health-plan texts (--set health-plan-dev / health-plan-test), logged to MLflow
    (experiment tagger).

    Example: imr evaluate-tagger --set dev --errors --no-mlflow
    """
    import json

    from ..errors import InputError
    from ..nlp.build import load_tagger
    from ..nlp.gold import gold_dir, load_texts, sets
    from ..nlp.score import errors, evaluate as run, evaluate_texts, format_errors, format_scores, log_mlflow

    texts = which.value.startswith("health-plan-")
    if texts and gold:
        raise InputError("--gold is for letters; the health-plan sets are data/annotations/health_plan")
    folder = None if texts else sets()[which.value]
    gold = gold or ([] if texts else [folder])
    missing = [g for g in gold if not Path(g).exists()]
    if missing:
        raise InputError(f"--gold {missing[0]} does not exist")
    scored_only = which is AnnotationSet.health_plan_test or any(
        Path(g).resolve().is_relative_to(gold_dir().resolve()) for g in gold)
    if show_errors and (scored_only or texts):
        raise InputError("--errors is for the development letters (--set dev): the gold letters and the frozen "
                         "health-plan texts are scored, never inspected")
    nlp = load_tagger(model)
    if texts:
        scores = evaluate_texts(nlp, load_texts(which.value.removeprefix("health-plan-")))
    else:
        scores = run(nlp, gold)
    typer.echo(format_scores(scores))
    if show_errors:
        typer.echo(format_errors(errors(nlp, gold)))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(scores, indent=2), encoding="utf-8")
    if not no_mlflow:
        run_id = log_mlflow(scores, {"model": str(model or "models/tagger"), "pipeline": ",".join(nlp.pipe_names),
                                     "set": which.value if texts or gold == [folder] else "custom",
                                     "gold_letters": scores["_letters"]})
        typer.echo(f"evaluate-tagger: logged to MLflow run {run_id}", err=True)
