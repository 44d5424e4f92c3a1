"""Reading files: the real PDFs, folders, and every kind of bad input as an error record."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from pipeline.schema import Letter, ParseError
from pipeline.sources import read_records

from .conftest import LETTERS_PDF, LETTERS_TXT, SEED


def test_every_pdf_parses_like_its_text(item_labels):
    records = list(read_records([LETTERS_PDF]))
    assert len(records) == len(list(LETTERS_PDF.glob("*.pdf")))
    assert all(isinstance(r, Letter) for r in records), [r for r in records if isinstance(r, ParseError)]
    for rec in records:
        assert [it.decision.value for it in rec.items] == [
            r["decision"] for r in item_labels[rec.case_number]]


def _pdf_bytes(*, password: str | None = None, blank: bool = False) -> bytes:
    writer = PdfWriter()
    if blank:
        writer.add_blank_page(612, 792)
    else:
        writer.append(PdfReader(str(next(iter(sorted(LETTERS_PDF.glob("*.pdf")))))))
    if password:
        writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.fixture()
def mixed_folder(tmp_path):
    """Good letters next to every kind of bad input, one file each."""
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "good1.txt").write_text(SEED.read_text())
    (d / "good2.txt").write_text((LETTERS_TXT / "CM16-0230651.txt").read_text())
    (d / "good3.pdf").write_bytes(_pdf_bytes())
    (d / "empty.txt").write_text("")
    (d / "image_only.pdf").write_bytes(_pdf_bytes(blank=True))
    (d / "corrupt.pdf").write_bytes(_pdf_bytes()[:700])
    (d / "password.pdf").write_bytes(_pdf_bytes(password="s3cret"))
    (d / "not_a_letter.txt").write_text("Minutes of the board meeting.\nAll present.\n")
    seed = SEED.read_text()
    (d / "truncated.txt").write_text(seed[: seed.index("no plan for weaning")])
    (d / "bad_decision.txt").write_text(seed.replace("home use: Overturned", "home use: Partial"))
    return d


EXPECTED_ERRORS = {
    "empty.txt": "empty-file", "image_only.pdf": "no-text-layer", "corrupt.pdf": "corrupt-pdf",
    "password.pdf": "encrypted-pdf", "not_a_letter.txt": "not-an-imr-letter",
    "truncated.txt": "truncated", "bad_decision.txt": "bad-decision",
}


def test_mixed_folder_gives_one_outcome_per_file(mixed_folder):
    records = list(read_records([mixed_folder]))
    assert len(records) == 10
    errors = {r.source.rsplit("/", 1)[-1]: r.error for r in records if isinstance(r, ParseError)}
    assert errors == EXPECTED_ERRORS
    good = [r for r in records if isinstance(r, Letter)]
    assert sorted(len(r.items) for r in good) == [1, 2, 10]
    assert all(r.message for r in records if isinstance(r, ParseError))


def test_missing_file_is_an_error_record(tmp_path):
    [rec] = list(read_records([tmp_path / "nope.pdf"]))
    assert isinstance(rec, ParseError) and rec.error == "unreadable-file"
