"""DMHC health-plan IMR records (CSV exports) and health-plan case backgrounds.

A DMHC row is one determination with one item. Both the current column names
(``ReferenceID``, ``Findings``…) and the older spaced ones (``Reference ID``…) are
read, comma- or semicolon-delimited (`pipeline.io.rows.table_rows`). Findings are split into the case-summary part
(what was requested and denied) and the reviewer's findings.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from .rows import header_keys, table_rows
from .schema import Decision, Item, Letter, LetterError, ParseError
from .text import check_length

_DECISIONS = {
    "upheld decision of health plan": Decision.UPHELD,
    "overturned decision of health plan": Decision.OVERTURNED,
}
_SUMMARY_MARK = re.compile(r"Nature of Statutory Criteria/Case Summary\s*:\s*", re.I)
_FINDINGS_MARK = re.compile(r"^\s*Findings\s*:\s*(?:The physician reviewers? found that\s*)?", re.I)
_REQUEST = re.compile(r"\b(request|requested|denied|denial|authoriz|coverage|reimburse)", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def split_findings(findings: str) -> tuple[str | None, str]:
    """(case summary, reviewer findings). The summary is the opening sentences that
    state what was requested or denied; the rest is the reviewer's reasoning."""
    text = _FINDINGS_MARK.sub("", findings.strip())
    m = _SUMMARY_MARK.search(text)
    if m:
        text = text[m.end():]
    sentences = _SENTENCE.split(text.strip())
    k = 0
    while k < len(sentences) and _REQUEST.search(sentences[k]):
        k += 1
    summary = " ".join(sentences[:k]).strip() or None
    return summary, " ".join(sentences[k:]).strip()


def is_export(text: str) -> bool:
    """Whether a CSV text is a DMHC IMR export (has ReferenceID and Determination columns)."""
    return {"referenceid", "determination"} <= header_keys(text)


def read_csv(text: str, path: Path) -> Iterator[Letter | ParseError]:
    """One Letter (one item) per DMHC row, keyed ``PATH:LINE``; a bad row gives a ParseError."""
    for line, row, problem in table_rows(text, path):
        source = f"{path}:{line}"
        if row is None:
            yield ParseError(source, "bad-row", problem)
            continue
        try:
            yield parse_row({k: (v or "").strip() for k, v in row.items()}, source)
        except LetterError as e:
            yield ParseError(source, e.code, e.message)


def parse_row(row: dict[str, str], source: str) -> Letter:
    """Turn one DMHC row (keys as `column_key` gives them) into a one-item Letter."""
    decision = _DECISIONS.get(row.get("determination", "").lower())
    if decision is None:
        raise LetterError("bad-decision", f"Determination {row.get('determination')!r} is neither "
                                          "Upheld nor Overturned Decision of Health Plan")
    findings = check_length(row.get("findings", ""), "the Findings")
    summary, reviewer = split_findings(findings) if findings else (None, None)
    treatment = " / ".join(x for x in (row.get("treatmentcategory"), row.get("treatmentsubcategory")) if x)
    return Letter(
        source=source, layout="dmhc-csv", case_number=row.get("referenceid") or None,
        case_summary=summary,
        items=[Item(index=1, item=treatment or "unspecified", decision=decision,
                    rationale=reviewer or None)],
        metadata={k: row.get(k) for k in ("reportyear", "diagnosiscategory", "diagnosissubcategory",
                                           "type", "agerange", "patientgender", "imrtype")
                  if row.get(k)},
    )
