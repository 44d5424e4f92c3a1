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
    from .records import AtomicJsonl
    from .schema import ParseError
    from .sources import expand_paths, read_records

    files = expand_paths(paths)
    errors = errors or out.with_name(out.name.removesuffix(".jsonl") + ".errors.jsonl")
    n_items = 0
    with AtomicJsonl(out) as good, AtomicJsonl(errors) as bad:
        for path in _progress(files, len(files), "parse", quiet):
            for rec in read_records([path]):
                if isinstance(rec, ParseError):
                    bad.write(rec.to_dict())
                else:
                    good.write(rec.to_dict(with_text=with_text))
                    n_items += len(rec.items)
    typer.echo(f"parse: {good.count + bad.count} records read from {len(files)} files, "
               f"{good.count} letters, {n_items} items, {bad.count} errors -> {out}, {errors}",
               err=True)
    if good.count == 0:
        raise typer.Exit(1)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
