"""DMHC health-plan IMR records (CSV exports) and health-plan case backgrounds.

A DMHC row is one determination with one item. Both the current column names
(``ReferenceID``, ``Findings``…) and the older spaced ones (``Reference ID``…) are
read, comma- or semicolon-delimited. Findings are split into the case-summary part
(what was requested and denied) and the reviewer's findings.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Iterator

from .schema import Decision, Item, Letter, LetterError, ParseError

_DECISIONS = {
    "upheld decision of health plan": Decision.UPHELD,
    "overturned decision of health plan": Decision.OVERTURNED,
}
_SUMMARY_MARK = re.compile(r"Nature of Statutory Criteria/Case Summary\s*:\s*", re.I)
_FINDINGS_MARK = re.compile(r"^\s*Findings\s*:\s*(?:The physician reviewers? found that\s*)?", re.I)
_REQUEST = re.compile(r"\b(request|requested|denied|denial|authoriz|coverage|reimburse)", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def column_key(name: str) -> str:
    """'Reference ID' and 'ReferenceID' both give 'referenceid'."""
    return re.sub(r"[^a-z]", "", name.lower())


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


def _sniff(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def read_csv(path: Path) -> Iterator[Letter | ParseError]:
    """One Letter (one item) per DMHC row; a bad row gives a ParseError, never an exception."""
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        yield ParseError(str(path), "unreadable-file", f"cannot read the CSV: {e}")
        return
    if not raw.strip():
        yield ParseError(str(path), "empty-file", "the file is empty")
        return
    reader = csv.DictReader(io.StringIO(raw, newline=""), delimiter=_sniff(raw))
    cols = {column_key(c): c for c in reader.fieldnames or []}
    if "determination" not in cols or "referenceid" not in cols:
        yield ParseError(str(path), "unknown-csv",
                         "not a DMHC IMR export: needs ReferenceID and Determination columns "
                         f"(found {', '.join(reader.fieldnames or [])})")
        return
    for n, row in enumerate(reader, start=2):
        source = f"{path}:{n}"
        try:
            yield parse_row({column_key(k): (v or "").strip() for k, v in row.items() if k}, source)
        except LetterError as e:
            yield ParseError(source, e.code, e.message)


def parse_row(row: dict[str, str], source: str) -> Letter:
    """Turn one DMHC row (keys as `column_key` gives them) into a one-item Letter."""
    decision = _DECISIONS.get(row.get("determination", "").lower())
    if decision is None:
        raise LetterError("bad-decision", f"Determination {row.get('determination')!r} is neither "
                                          "Upheld nor Overturned Decision of Health Plan")
    findings = row.get("findings", "")
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
