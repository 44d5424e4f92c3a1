"""The ``imr`` command line: one thin command per stage, listed in pipeline order.

Commands only parse options and call the stage's function. What a user can fix (a missing
file, a wrong ``--model``, an empty store; `pipeline.errors.UserError`) ends the command
with one line on stderr and exit status 2; an interrupted job exits 130 and says how to
resume. Exit status 1 means the command ran but produced nothing (every record failed).
"""
from __future__ import annotations

import enum
import sys

import typer
from typer.core import TyperGroup

from ..errors import UserError


class Stages(TyperGroup):
    """Commands in the order they were added (pipeline order); user errors as one line, exit 2."""

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx):
        from ..io.jobs import Interrupted

        try:
            return super().invoke(ctx)
        except Interrupted as e:
            typer.echo(f"imr {ctx.invoked_subcommand}: {e}", err=True)
            raise typer.Exit(130) from None
        except UserError as e:
            typer.echo(f"imr {ctx.invoked_subcommand}: {e}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(cls=Stages, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Structured data and outcome predictions from IMR determination letters.")


class Setting(str, enum.Enum):
    rationale = "rationale"
    prior = "prior"


class Engine(str, enum.Enum):
    local = "local"
    spark = "spark"


class Format(str, enum.Enum):
    jsonl = "jsonl"
    parquet = "parquet"
    csv = "csv"


def progress_off(quiet: bool) -> None:
    """``--quiet``: no progress bars or info logs from the libraries either (cron jobs)."""
    if not quiet:
        return
    import logging
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ["TQDM_DISABLE"] = "1"
    for name in ("mlflow", "transformers", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)


def finish(summary) -> None:
    """Print a job's summary line; exit 1 when records came in and none gave output."""
    typer.echo(summary.line(), err=True)
    if summary.records_in and summary.records_ok == 0:
        raise typer.Exit(1)


from . import data, models, serve, reports  # noqa: E402,F401,I001  (registers the commands, in pipeline order)


def main() -> None:  # console-script entry point
    app(prog_name="imr")


if __name__ == "__main__":
    sys.exit(main())
