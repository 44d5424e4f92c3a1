"""Reading files: the real PDFs, folders, and every kind of bad input as an error record."""
from __future__ import annotations

from pipeline.io.schema import Letter, ParseError
from pipeline.io.sources import read_records

from ..conftest import EXPECTED_ERRORS, LETTERS_PDF


def test_every_pdf_parses_like_its_text(item_labels):
    records = list(read_records([LETTERS_PDF]))
    assert len(records) == len(list(LETTERS_PDF.glob("*.pdf")))
    assert all(isinstance(r, Letter) for r in records), [r for r in records if isinstance(r, ParseError)]
    for rec in records:
        assert [it.decision.value for it in rec.items] == [
            r["decision"] for r in item_labels[rec.case_number]]


def test_mixed_folder_gives_one_outcome_per_file(mixed_folder):
    records = list(read_records([mixed_folder]))
    assert len(records) == 10
    errors = {r.source.rsplit("/", 1)[-1]: r.code for r in records if isinstance(r, ParseError)}
    assert errors == EXPECTED_ERRORS
    good = [r for r in records if isinstance(r, Letter)]
    assert sorted(len(r.items) for r in good) == [1, 2, 2, 10]
    assert all(r.message for r in records if isinstance(r, ParseError))


def test_missing_file_is_an_error_record(tmp_path):
    [rec] = list(read_records([tmp_path / "nope.pdf"]))
    assert isinstance(rec, ParseError) and rec.code == "not-found"
