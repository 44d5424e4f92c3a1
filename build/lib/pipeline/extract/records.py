"""The item record: one row per disputed item, the schema written down once.

`ITEM_FIELDS` (parsed), `ENTITY_FIELDS` (tagged) and `PREDICTION_FIELDS` (scored) list every
column with its type and meaning; the Arrow schema (Parquet), the JSON Schema (``imr
extract --schema``, checked in tests) and the CSV column order all come from them. ``imr
extract`` writes `EXTRACT_FIELDS`; ``imr predict`` the same rows with the prediction.
Letters give one row per item (``id`` = ``<case_number>#<index>``); ``id,text`` table rows
give one row each (``id`` = the row's id, the letter and item fields empty).
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
ENTITY_FIELDS: tuple[Field, ...] = (
    Field("treatments", "mentions", "the item's own TREATMENT mention(s), offsets into the letter text (none: "
                                    "the item text, offsets empty)"),
    Field("treatment_category", "string", "the treatment's category (vocab/treatment_categories.json; other "
                                          "when unknown)"),
    Field("diagnoses", "diagnoses", "the case's asserted DIAGNOSIS mentions, each once, with a body region"),
    Field("negated_diagnoses", "diagnoses", "DIAGNOSIS mentions only ever negated or ruled out"),
    Field("body_regions", "strings", "the body regions of the asserted diagnoses (vocab/body_regions.json)"),
)
PREDICTION_FIELDS: tuple[Field, ...] = (
    Field("model", "string", "the model that scored the item"),
    Field("setting", "string", "rationale | prior: what the model reads"),
    Field("p_overturned", "number", "calibrated probability that the UR denial is overturned"),
    Field("prediction", "string", "Overturned when p_overturned >= threshold, else Upheld"),
    Field("threshold", "number", "the model's decision threshold (macro-F1 on out-of-fold scores)"),
    Field("evidence", "evidence", "with --explain: the 1-3 input sentences that move p_overturned most, each "
                                  "with delta = p(full input) - p(without it)"),
    Field("similar", "neighbours", "with --similar K: the K nearest decided items of the training corpus (never "
                                   "the item's own letter), with their decision and cosine similarity"),
)
EXTRACT_FIELDS = ITEM_FIELDS + ENTITY_FIELDS
NESTED = ("citations", "mentions", "diagnoses", "strings", "evidence", "neighbours")  # lists (JSON text in a CSV)
NEIGHBOUR_KEYS = ("id", "case_number", "index", "item", "decision", "decision_date", "treatment_category")
CITATION_FIELDS = tuple(f.name for f in ITEM_FIELDS if f.type == "citations")
JSON_FIELDS = tuple(f.name for f in EXTRACT_FIELDS + PREDICTION_FIELDS if f.type in NESTED)


def columns(fields: Sequence[Field]) -> list[str]:
    return [f.name for f in fields]


def arrow_schema(fields: Sequence[Field]):
    import pyarrow as pa

    mention = [("text", pa.string()), ("start", pa.int32()), ("end", pa.int32())]
    types = {"string": pa.string(), "date": pa.string(), "integer": pa.int32(), "number": pa.float64(),
             "citations": pa.list_(pa.struct([(k, pa.string()) for k in CITATION_KEYS])),
             "mentions": pa.list_(pa.struct(mention)),
             "diagnoses": pa.list_(pa.struct(mention + [("body_region", pa.string())])),
             "strings": pa.list_(pa.string()),
             "evidence": pa.list_(pa.struct([("text", pa.string()), ("delta", pa.float64())])),
             "neighbours": pa.list_(pa.struct([(k, pa.int32() if k == "index" else pa.string())
                                               for k in NEIGHBOUR_KEYS] + [("similarity", pa.float64())]))}
    return pa.schema([(f.name, types[f.type]) for f in fields])


def json_schema(fields: Sequence[Field], title: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of one row: every field present, nullable except ``source``."""
    def obj(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    text, offset = {"type": ["string", "null"]}, {"type": ["integer", "null"]}
    mention = {"text": {"type": "string"}, "start": offset, "end": offset}
    types = {"string": text,
             "date": {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}$"},
             "integer": {"type": ["integer", "null"]}, "number": {"type": ["number", "null"]},
             "citations": {"type": "array", "items": obj({k: text for k in CITATION_KEYS})},
             "mentions": {"type": "array", "items": obj(mention)},
             "diagnoses": {"type": "array", "items": obj({**mention, "body_region": {"type": "string"}})},
             "strings": {"type": "array", "items": {"type": "string"}},
             "evidence": {"type": "array", "items": obj({"text": {"type": "string"}, "delta": {"type": "number"}})},
             "neighbours": {"type": "array", "items": obj({**{k: {"type": ["integer", "null"]} if k == "index"
                                                             else text for k in NEIGHBOUR_KEYS},
                                                          "similarity": {"type": "number"}})}}
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
