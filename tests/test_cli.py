"""The `imr` command line, run as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys

from .conftest import LETTERS_TXT, ROOT, SEED
from .test_sources import EXPECTED_ERRORS, mixed_folder  # noqa: F401  (fixture)


def imr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_parse_help_documents_everything():
    out = imr("parse", "--help").stdout
    for word in ("--out", "--errors", "--quiet", "paths", "CSV", "Example"):
        assert word in out


def test_parse_mixed_folder_counts(mixed_folder, tmp_path):  # noqa: F811
    out, errs = tmp_path / "letters.jsonl", tmp_path / "errors.jsonl"
    proc = imr("parse", str(mixed_folder), "--out", str(out), "--errors", str(errs))
    assert proc.returncode == 0, proc.stderr
    letters = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [json.loads(x) for x in errs.read_text().splitlines()]
    assert len(letters) + len(errors) == 10
    assert {e["source"].rsplit("/", 1)[-1]: e["error"] for e in errors} == EXPECTED_ERRORS
    assert "10 records read from 10 files, 3 letters, 13 items, 7 errors" in proc.stderr
    assert not list(tmp_path.glob("*.tmp"))


def test_parse_whole_corpus_and_seed(tmp_path):
    out = tmp_path / "letters.jsonl"
    proc = imr("parse", str(LETTERS_TXT), str(SEED), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    letters = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(letters) == len(list(LETTERS_TXT.glob("*.txt"))) + 1
    assert sum(len(x["items"]) for x in letters) == 372
    item = letters[0]["items"][0]
    assert set(item) >= {"index", "item", "decision", "claims_administrator_guideline",
                         "maximus_guideline", "rationale"}


def test_parse_exits_nonzero_when_nothing_parsed(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("")
    proc = imr("parse", str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 1
    assert "0 letters" in proc.stderr
