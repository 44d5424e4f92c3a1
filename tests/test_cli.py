"""The `imr` command line, run as a user runs it: help, counts, exit codes."""
from __future__ import annotations

import json

from .conftest import EXPECTED_ERRORS, LETTERS_TXT, SEED, imr


def test_commands_are_listed_in_pipeline_order():
    out = imr("--help").stdout
    order = ["parse", "tag", "train-tagger", "evaluate-tagger", "split", "train", "evaluate", "promote",
             "runs", "predict", "export", "compare", "ui"]
    at = [out.index(f"\n  {c} ") for c in order]
    assert at == sorted(at)


def test_parse_help_documents_everything():
    out = imr("parse", "--help").stdout
    for word in ("--out", "--errors", "--quiet", "--restart", "paths", "CSV", "Example"):
        assert word in out


def test_choice_options_list_their_values():
    out = imr("predict", "--help").stdout
    for word in ("jsonl|parquet|csv", "rationale|prior", "local|spark"):
        assert word in out


def test_parse_mixed_folder_counts(mixed_folder, tmp_path):
    out, errs = tmp_path / "letters.jsonl", tmp_path / "errors.jsonl"
    proc = imr("parse", str(mixed_folder), "--out", str(out), "--errors", str(errs))
    assert proc.returncode == 0, proc.stderr
    letters = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [json.loads(x) for x in errs.read_text().splitlines()]
    assert len(letters) + len(errors) == 10
    assert {e["source"].rsplit("/", 1)[-1]: e["code"] for e in errors} == EXPECTED_ERRORS
    assert "parse: 10 records in = 4 with output + 6 with errors; 4 letters out" in proc.stderr
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.parts"))


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


def test_parse_exits_1_when_nothing_parsed(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("")
    proc = imr("parse", str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 1
    assert "0 with output + 1 with errors" in proc.stderr
