"""Commands that serve the models: predict, export."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer

from . import Engine, Format, Setting, app, finish, progress_off


class Quantize(str, enum.Enum):
    int8 = "int8"


def champion_task(paths: list[str], setting: Optional[str]) -> tuple[str, str]:
    """(domain, setting) of the champion that ``--model champion`` means for these inputs:
    id,text tables -> health-plan prior; letters -> dwc, prior unless ``--setting`` says."""
    from ..io.rows import header_keys
    from ..io.sources import discover
    from ..io.text import decode

    for f in discover(paths):
        if not isinstance(f, Path):
            continue
        suffix = f.suffix.lower()
        is_rows = suffix in (".jsonl", ".ndjson") or (
            suffix == ".csv" and "text" in header_keys(decode(f.open("rb").read(65536))))
        if is_rows and setting in (None, "prior"):
            return "health-plan", "prior"
        return "dwc", setting or "prior"
    return "dwc", setting or "prior"


@app.command()
def predict(
    paths: List[str] = typer.Argument(..., help="Letters (PDF, .txt, folders), DMHC IMR CSV exports, or "
                                      "CSV/JSONL with id,text (with --engine spark also hdfs://, s3a:// ...)."),
    model: str = typer.Option(..., "--model", "-m", help="A folder in models/ (dwc-prior), champion (the "
                              "task's champion for these inputs), a registry reference (NAME@ALIAS, "
                              "models:/NAME/3, runs:/ID/model), or a folder from `imr export`."),
    out: Path = typer.Option(..., "--out", "-o", help="One row per item (or row): a file (jsonl, parquet, csv); "
                             "a Parquet folder with --engine spark."),
    fmt: Optional[Format] = typer.Option(None, "--format", "-f", help="Default: OUT's extension, else jsonl; "
                                         "always parquet with --engine spark."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="JSONL for the records that could not be "
                                          "scored (default: OUT with .errors.jsonl)."),
    setting: Optional[Setting] = typer.Option(None, "--setting", help="Override the model's own setting."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (streams, resumable) or spark."),
    master: str = typer.Option("local[2]", "--master", help="Spark master URL for --engine spark: local[N], "
                               "spark://HOST:7077, yarn, k8s://https://HOST:PORT."),
    batch_letters: int = typer.Option(32, "--batch-letters", min=1, help="Records per batch (memory bound and "
                                      "resume granularity)."),
    tagger: Optional[Path] = typer.Option(None, "--tagger", help="The tagger for the item rows' entities "
                                          "(default: models/tagger, or the rules alone if it is missing)."),
    explain: bool = typer.Option(False, "--explain", help="Add each item's evidence: the 1-3 input sentences "
                                 "that move p_overturned most (up to 41 scorings an item)."),
    similar: int = typer.Option(0, "--similar", min=0, help="Add the K nearest decided items of the training "
                                "corpus (never the item's own letter)."),
    index: Optional[Path] = typer.Option(None, "--index", help="The similarity index (default: models/dwc-index, "
                                         "built by imr index)."),
    restart: bool = typer.Option(False, "--restart", help="Discard an interrupted run's work and start over."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (cron jobs)."),
) -> None:
    """Predict Upheld / Overturned per disputed item (letters) or per row (CSV/JSONL id,text).

    Streams any number of inputs in bounded batches. Each row: the item row of `imr extract`
    (source, id, case_number, index, item, decision, parsed fields, normalized guidelines)
    with model, setting, p_overturned, prediction and threshold. Records that cannot be
    scored go to the errors file. Killed at any moment, the same command resumes where it
    stopped (work in OUT.parts/); OUT appears, whole, only at the end. Prior-setting inputs
    pass the leakage guard.

    Example: imr predict data/raw/seed --model models/dwc-prior --out preds.parquet

    Example: imr predict data/raw/seed --model champion --explain --similar 3 --out seed.jsonl
    """
    from ..classify.registry import ALIASES
    from ..io.writers import check_output, default_errors_path

    progress_off(quiet)
    check_output(out, folder_ok=engine is Engine.spark)  # before any model is loaded
    check_output(errors or default_errors_path(out))
    st = setting.value if setting else None
    domain = None
    if model.strip().lstrip("@") in ALIASES:
        domain, st = champion_task(paths, st)
    if engine is Engine.spark:
        from ..errors import InputError
        from ..serve.spark import predict_spark

        if explain or similar:
            raise InputError("--explain and --similar run on the local engine (--engine local)")
        summary = predict_spark(paths, model, out, errors, master=master, setting=st, tagger=tagger)
    else:
        from ..nlp.build import load_tagger
        from ..serve.batch import predict as run_batch
        from ..serve.scorers import load_scorer

        scorer = load_scorer(model, setting=st, domain=domain)
        summary = run_batch(paths, scorer, out, errors, fmt=fmt.value if fmt else None,
                            batch_letters=batch_letters, quiet=quiet, restart=restart, model_ref=model,
                            nlp=load_tagger(tagger), tagger_ref=str(tagger or "default"), explain=explain,
                            similar=similar, index_path=index)
    finish(summary)


@app.command()
def export(
    model: str = typer.Argument(..., help="A transformer model: folder in models/, MLflow URI, registry reference."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Export folder (default: models/<name>-onnx)."),
    quantize: Optional[Quantize] = typer.Option(None, "--quantize", help="int8: also write a dynamically "
                                                "quantized model (served by default)."),
) -> None:
    """Export the transformer classifier to ONNX for ONNX Runtime (`imr predict --model OUT`).

    Example: imr export models/dwc-rationale --quantize int8 --out models/dwc-rationale-onnx
    """
    from ..serve.export import export as run_export

    out = out or Path("models") / (Path(model.rstrip("/")).name.replace("@", "-").replace(":", "-") + "-onnx")
    path = run_export(model, out, quantize=quantize.value if quantize else None)
    typer.echo(f"export: {model} -> {path} ({', '.join(sorted(p.name for p in path.glob('*.onnx')))})", err=True)


@app.command()
def index(
    items: Path = typer.Option(Path("data/extracted/dwc-items.jsonl"), "--items", help="DWC item rows (imr extract)."),
    examples: Path = typer.Option(Path("data/examples/dwc-prior.jsonl"), "--examples", help="Examples of imr "
                                  "split: their frozen test letters stay out of the index."),
    out: Path = typer.Option(Path("models/dwc-index"), "--out", "-o", help="The index folder."),
) -> None:
    """Build the index of past decisions that `imr predict --similar K` searches.

    Every decided item outside the frozen test split: a sentence embedding of its item and
    case summary, with its case number, item, decision and date.

    Example: imr index --items data/extracted/dwc-items.jsonl --out models/dwc-index
    """
    from ..classify.examples import TEST_FOLD, read_examples
    from ..errors import InputError
    from ..io.records import read_jsonl
    from ..serve.similar import build

    for p, flag in ((items, "--items"), (examples, "--examples")):
        if not p.is_file():
            raise InputError(f"{flag} {p} does not exist: run `imr extract` and `imr split` first")
    test = {e.group for e in read_examples(examples) if e.fold == TEST_FOLD}
    path = build(list(read_jsonl(items)), test, out)
    typer.echo(f"index: {path} ({(path / 'index.json').read_text().strip()})", err=True)
