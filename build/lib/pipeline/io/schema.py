"""The records that flow through the pipeline: letters, their disputed items, text rows, errors.

Every input record gets a ``source`` key that is unique within a run: the file path for a
letter file, ``PATH#K`` for the K-th of several letters concatenated in one file, and
``PATH:LINE`` for a row of a CSV or JSONL table. Jobs resume and count by this key.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any


class Decision(str, enum.Enum):
    """Outcome of an IMR for one disputed item, as the letter states it."""

    UPHELD = "Upheld"  # the utilization-review denial stands
    OVERTURNED = "Overturned"  # the treatment is found medically necessary

    @classmethod
    def from_word(cls, word: str) -> "Decision":
        """Map a letter's decision word; anything but Upheld/Overturned raises ValueError."""
        w = word.strip().strip(".:").lower()
        for d in cls:
            if w == d.value.lower():
                return d
        raise ValueError(f"decision word {word!r} is neither Upheld nor Overturned")


@dataclasses.dataclass
class Item:
    """One disputed treatment or service and the reviewer's decision on it."""

    index: int  # 1-based, in letter order
    item: str  # the disputed service as written (the IMR-eligible part)
    decision: Decision | None  # None: the letter's decision word is neither Upheld nor Overturned
    claims_administrator_guideline: str | None = None
    maximus_guideline: str | None = None
    rationale: str | None = None
    original_request: str | None = None  # partial authorizations only
    authorized: str | None = None  # the part the claims administrator authorized
    decision_word: str | None = None  # the letter's own word when it is not Upheld/Overturned

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["decision"] = self.decision.value if self.decision else None
        return d


@dataclasses.dataclass
class Letter:
    """A parsed IMR determination (a DWC letter or one DMHC record)."""

    source: str
    layout: str  # dwc-2016 | maximus-2013 | medical-professional-review | dmhc-csv
    case_number: str | None = None
    date_assigned: dt.date | None = None
    date_of_injury: dt.date | None = None
    decision_date: dt.date | None = None
    ur_denial_date: dt.date | None = None
    application_received: dt.date | None = None
    priority: str | None = None
    licensure: str | None = None
    specialty: str | None = None
    case_summary: str | None = None
    items: list[Item] = dataclasses.field(default_factory=list)
    text: str | None = None  # the full text the letter was parsed from
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self, with_text: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "text" and not with_text:
                continue
            if f.name == "items":
                v = [it.to_dict() for it in v]
            elif isinstance(v, dt.date):
                v = v.isoformat()
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Letter":
        kw = dict(d)
        for name in ("date_assigned", "date_of_injury", "decision_date", "ur_denial_date",
                     "application_received"):
            if kw.get(name):
                kw[name] = dt.date.fromisoformat(kw[name])
        kw["items"] = [Item(**{**it, "decision": Decision(it["decision"]) if it.get("decision") else None})
                       for it in d.get("items", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in kw.items() if k in known})


@dataclasses.dataclass
class TextRow:
    """One row of an ``id,text`` table (CSV or JSONL): a free text to score, not a letter."""

    source: str  # PATH:LINE
    id: str
    text: str


@dataclasses.dataclass
class ParseError:
    """One input record that could not be used. Never raised: written out as an error record."""

    source: str
    code: str  # a short code, e.g. empty-file, encrypted-pdf, not-an-imr-letter
    message: str
    stage: str = "parse"  # where it failed: parse, inputs, tag, classify

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class LetterError(Exception):
    """Raised inside parsing; the caller turns it into a ParseError record."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
