"""Every example in the commands' help texts and in the README runs as written.

The help examples run in pipeline order, as a user would type them, in a fresh project
folder (``IMR_HOME``, the shipped data linked in): each one's output is the next one's
input. Four take minutes or a model `make run` trains (train-tagger, evaluate-tagger on all
development letters, export of a transformer, ui: a server) and are checked as far as the
command line itself goes: the command exists and takes every option as written. The
README's examples are the help examples (one per command) plus those four kinds.
"""
from __future__ import annotations

import os
import re
import shlex

import pytest

from pipeline.cli import app

from .conftest import ROOT, imr

PARSED_ONLY = {"train-tagger", "evaluate-tagger", "export", "ui"}
ORDER = ["parse", "tag", "extract", "train-tagger", "evaluate-tagger", "split", "train", "evaluate", "promote",
         "runs", "index", "predict", "export", "compare", "ui", "analyze"]


def commands() -> dict:
    """The CLI's click commands by name."""
    import typer.main

    return typer.main.get_command(app).commands


def help_examples() -> list[list[str]]:
    out = []
    for name, cmd in commands().items():
        for line in (cmd.help or "").splitlines():
            line = line.strip()
            if line.startswith("Example: imr "):
                out.append(shlex.split(line.removeprefix("Example: imr ")))
    return sorted(out, key=lambda a: ORDER.index(a[0]))


def readme_examples() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [shlex.split(m.group(1)) for m in re.finditer(r"^    imr (.+)$", text, re.M)]


def test_every_command_has_an_example():
    names = set(commands())
    assert names == {a[0] for a in help_examples()} and names <= set(ORDER)


def test_readme_examples_are_valid_command_lines():
    cmds = commands()
    examples = readme_examples()
    assert {a[0] for a in examples} == set(cmds)  # every command shown
    for args in examples:
        cmd = cmds[args[0]]
        cmd.make_context(args[0], list(args[1:]), resilient_parsing=False)  # raises on a bad option


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    home = tmp_path_factory.mktemp("project")
    (home / "data").mkdir()
    for sub in ("raw", "dev", "gold", "annotations"):
        (home / "data" / sub).symlink_to(ROOT / "data" / sub)
    (home / "configs").symlink_to(ROOT / "configs")
    return home


@pytest.mark.slow
def test_help_examples_run_in_pipeline_order(sandbox):
    cmds = commands()
    env = {"IMR_HOME": str(sandbox), "MLFLOW_TRACKING_URI": f"sqlite:///{sandbox / 'mlflow.db'}"}
    for args in help_examples():
        if args[0] in PARSED_ONLY:
            cmds[args[0]].make_context(args[0], list(args[1:]))
            continue
        proc = imr(*args, env=env, cwd=sandbox)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
    assert (sandbox / "reports" / "compare.html").is_file() and (sandbox / "reports" / "corpus.html").is_file()
    assert os.path.getsize(sandbox / "seed.jsonl") > 0
