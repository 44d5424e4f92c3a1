"""`imr predict`: letters -> one line per item; CSV / JSONL (id, text) -> one line per row."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

from ..conftest import LETTERS_TXT, RAW


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from pipeline.classify import build
    from pipeline.classify.examples import letter_examples
    from pipeline.io.schema import ParseError
    from pipeline.io.sources import read_records
    from pipeline.classify.tracking import input_example, save_pyfunc

    letters = [r for r in read_records(sorted(LETTERS_TXT.glob("*.txt"))[:60]) if not isinstance(r, ParseError)]
    exs = letter_examples(letters, "prior")
    clf = build("tfidf_lr", {"min_df": 1}).fit(exs)
    clf.info = {"domain": "dwc", "setting": "prior", "model": "tfidf_lr"}
    return save_pyfunc(clf, tmp_path_factory.mktemp("m") / "dwc-prior", input_example(exs))


def _lines(p):
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def test_predict_letters(model_dir, tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    out = tmp_path / "p.jsonl"
    files = sorted(LETTERS_TXT.glob("*.txt"))[:3]
    r = CliRunner().invoke(app, ["predict", *map(str, files), str(bad), "--model", str(model_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = _lines(out)
    assert rows and set(rows[0]) >= {"case_number", "index", "item", "prediction", "p_overturned", "setting"}
    assert all(x["setting"] == "prior" and x["prediction"] in ("Upheld", "Overturned")
               and 0 <= x["p_overturned"] <= 1 for x in rows)
    errors = _lines(tmp_path / "p.errors.jsonl")
    assert [e["code"] for e in errors] == ["empty-file"]


def test_predict_csv_and_jsonl_rows(model_dir, tmp_path):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("id,text\na1,\"A 40-year-old enrollee requested an MRI of the knee.\"\n"
                        "a2,\"Knee surgery was denied by the plan.\"\n")
    jl = tmp_path / "rows.jsonl"
    jl.write_text(json.dumps({"id": "j1", "text": "Physical therapy for low back pain."}) + "\n")
    out = tmp_path / "rows_out.jsonl"
    r = CliRunner().invoke(app, ["predict", str(csv_path), str(jl), "--model", str(model_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = _lines(out)
    assert [x["id"] for x in rows] == ["a1", "a2", "j1"]
    assert all(set(x) >= {"id", "prediction", "p_overturned", "setting"} for x in rows)
    assert len({x["p_overturned"] for x in rows}) > 1


def test_health_plan_csv_is_a_row_table():
    from pipeline.io.dmhc import is_export
    from pipeline.io.rows import header_keys
    from pipeline.io.text import decode

    hp = decode((RAW / "imr_appeals_persius" / "case_backgrounds.csv").read_bytes())
    dmhc = decode((RAW / "dmhc_imr" / "dmhc_imr_sample20_2023_2026_with_findings.csv").read_bytes())
    assert "text" in header_keys(hp) and not is_export(hp)
    assert is_export(dmhc)
