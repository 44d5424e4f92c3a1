"""The item record: one row per disputed item, the schema written down once.

`ITEM_FIELDS` lists every column with its type and meaning; the Arrow schema (Parquet), the
JSON Schema (``imr extract --schema``, checked in tests) and the CSV column order all come
from it. Letters give one row per item (``id`` = ``<case_number>#<index>``); ``id,text``
table rows give one row each (``id`` = the row's id, the letter and item fields empty).
`pipeline.serve` adds the prediction columns to the same rows (`PREDICTION_FIELDS`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from ..io.schema import Letter, TextRow
from ..nlp.citations import normalize

CITATION_KEYS = ("source", "chapter", "page", "section", "text")


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | integer | number | date | citations
    doc: str


ITEM_FIELDS: tuple[Field, ...] = (
    Field("source", "string", "the input record: file path, PATH#K for the K-th letter of a file, PATH:LINE for a table row"),
    Field("id", "string", "<case_number>#<index> for a letter's item; the row's id for an id,text row"),
    Field("case_number", "string", "the IMR case number (CM16-0219557)"),
    Field("index", "integer", "the item's 1-based position in its letter"),
    Field("item", "string", "the disputed treatment as the letter words it (the IMR-eligible part)"),
    Field("decision", "string", "Upheld | Overturned, as the letter states it; empty for another decision word"),
    Field("decision_word", "string", "the letter's decision word when it is neither Upheld nor Overturned"),
    Field("layout", "string", "dwc-2016 | maximus-2013 | medical-professional-review | dmhc-csv"),
    Field("date_assigned", "date", "ISO date the IMR was assigned"),
    Field("date_of_injury", "date", "ISO date of the injury"),
    Field("decision_date", "date", "ISO date of the IMR decision"),
    Field("ur_denial_date", "date", "ISO date of the utilization-review denial"),
    Field("application_received", "date", "ISO date the IMR application was received"),
    Field("priority", "string", "Standard | Expedited"),
    Field("licensure", "string", "the expert reviewer's state(s) of licensure"),
    Field("specialty", "string", "the expert reviewer's certification(s)/specialty, as written"),
    Field("case_summary", "string", "the clinical case summary"),
    Field("original_request", "string", "partial authorizations: the whole original request"),
    Field("authorized", "string", "partial authorizations: the part the claims administrator authorized"),
    Field("claims_administrator_guideline", "string", "the claims administrator's guideline line, as written"),
    Field("maximus_guideline", "string", "the MAXIMUS (expert reviewer's) guideline line, as written"),
    Field("rationale", "string", "the decision rationale"),
    Field("claims_administrator_guidelines", "citations", "the claims administrator's line, normalized"),
    Field("maximus_guidelines", "citations", "the MAXIMUS line, normalized"),
)
PREDICTION_FIELDS: tuple[Field, ...] = (
    Field("model", "string", "the model that scored the item"),
    Field("setting", "string", "rationale | prior: what the model reads"),
    Field("p_overturned", "number", "calibrated probability that the UR denial is overturned"),
    Field("prediction", "string", "Overturned when p_overturned >= threshold, else Upheld"),
    Field("threshold", "number", "the model's decision threshold (macro-F1 on out-of-fold scores)"),
)
CITATION_FIELDS = tuple(f.name for f in ITEM_FIELDS if f.type == "citations")


def columns(fields: Sequence[Field]) -> list[str]:
    return [f.name for f in fields]


def arrow_schema(fields: Sequence[Field]):
    import pyarrow as pa

    citation = pa.list_(pa.struct([(k, pa.string()) for k in CITATION_KEYS]))
    types = {"string": pa.string(), "date": pa.string(), "integer": pa.int32(), "number": pa.float64(),
             "citations": citation}
    return pa.schema([(f.name, types[f.type]) for f in fields])


def json_schema(fields: Sequence[Field], title: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of one row: every field present, nullable except ``source``."""
    citation = {"type": "object", "properties": {k: {"type": ["string", "null"]} for k in CITATION_KEYS},
                "required": list(CITATION_KEYS), "additionalProperties": False}
    types = {"string": {"type": ["string", "null"]},
             "date": {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}$"},
             "integer": {"type": ["integer", "null"]}, "number": {"type": ["number", "null"]},
             "citations": {"type": "array", "items": citation}}
    props = {f.name: {**types[f.type], "description": f.doc} for f in fields}
    props["source"] = {"type": "string", "description": props["source"]["description"]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
            "properties": props, "required": [f.name for f in fields], "additionalProperties": False}


def citations(line: str | None) -> list[dict[str, Any]]:
    """A guideline line as normalized citations (`pipeline.nlp.citations.normalize`)."""
    return [{k: c.get(k) for k in CITATION_KEYS} for c in normalize(line)] if line else []


def letter_rows(letter: Letter) -> list[dict[str, Any]]:
    """One item row per disputed item of ``letter`` (the fields of `ITEM_FIELDS`)."""
    d = letter.to_dict()
    case = letter.case_number or Path(letter.source).stem
    rows = []
    for it in letter.items:
        r = {f.name: d.get(f.name) for f in ITEM_FIELDS}
        r.update(it.to_dict())
        r["id"] = f"{case}#{it.index}"
        r["claims_administrator_guidelines"] = citations(it.claims_administrator_guideline)
        r["maximus_guidelines"] = citations(it.maximus_guideline)
        rows.append({f.name: r.get(f.name) for f in ITEM_FIELDS})
    return rows


def text_row(row: TextRow) -> dict[str, Any]:
    """The item row of an ``id,text`` table row: its source and id, the rest empty."""
    r: dict[str, Any] = {f.name: None for f in ITEM_FIELDS}
    r.update({"source": row.source, "id": row.id, "claims_administrator_guidelines": [],
              "maximus_guidelines": []})
    return r
