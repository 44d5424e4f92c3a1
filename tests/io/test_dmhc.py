"""DMHC health-plan IMR CSVs: both column styles, both delimiters, findings split."""
from __future__ import annotations

from pipeline.io.dmhc import split_findings
from pipeline.io.rows import column_key
from pipeline.io.schema import Decision, Letter, ParseError
from pipeline.io.sources import read_records

from ..conftest import RAW

CURRENT = RAW / "dmhc_imr" / "dmhc_imr_sample20_2023_2026_with_findings.csv"
OLDER = RAW / "dmhc_imr" / "imr_determinations_2001_2016_labels_only_NO_FINDINGS.csv"


def test_current_columns_with_findings():
    records = list(read_records([CURRENT]))
    assert len(records) == 20 and all(isinstance(r, Letter) for r in records)
    assert {r.items[0].decision for r in records} == {Decision.UPHELD}
    first = records[0]
    assert first.case_number == "MN24-40814"
    assert first.case_summary == "Patient requested reimbursement for RTC services (ASAM 3.5)."
    assert first.items[0].rationale.startswith("Per ASAM criteria")
    assert first.items[0].item == "Mental Health / RTC"
    assert all(r.case_summary and r.items[0].rationale for r in records)
    assert all("Findings:" not in r.case_summary for r in records)


def test_older_semicolon_spaced_columns():
    records = list(read_records([OLDER]))
    assert len(records) == 19228
    assert all(isinstance(r, Letter) for r in records)
    counts = {d: sum(r.items[0].decision is d for r in records) for d in Decision}
    assert counts == {Decision.UPHELD: 10776, Decision.OVERTURNED: 8452}
    assert records[0].case_number == "MN16-22639" and records[0].metadata["reportyear"] == "2016"


def test_bad_rows_and_foreign_csv(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("ReferenceID,Determination,Findings\nA1,Upheld Decision of Health Plan,\n"
                 "A2,Withdrawn,\n")
    recs = list(read_records([f]))
    assert isinstance(recs[0], Letter) and isinstance(recs[1], ParseError)
    assert recs[1].code == "bad-decision" and recs[1].source.endswith("x.csv:3")
    g = tmp_path / "y.csv"
    g.write_text("a,b\n1,2\n")
    [err] = list(read_records([g]))
    assert err.code == "unknown-csv"


def test_split_findings_and_column_keys():
    summary, rest = split_findings("Findings: The physician reviewer found that The patient has "
                                   "requested coverage for Omnitrope. Growth was normal. Final Result: x.")
    assert summary == "The patient has requested coverage for Omnitrope."
    assert rest.startswith("Growth was normal.")
    assert column_key("Reference ID") == column_key("ReferenceID") == "referenceid"
