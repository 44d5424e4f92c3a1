"""``imr extract``: parse + tag, one item row per disputed item (`pipeline.extract.records`).

For each item the row holds its parsed fields and normalized guidelines, and from the
tagger: the item's own TREATMENT mention(s) (those in the item's heading; in the fast
pipeline the rules' where the tagger found none there; else the item text itself) with a
treatment category, and the case's DIAGNOSIS mentions with a body region, the negated ones
in a list of their own. A text row (``id,text``) gets every TREATMENT and DIAGNOSIS mention
of its text.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from ..io.jobs import Job, Summary, run_job
from ..io.schema import Letter, ParseError, TextRow
from .facets import body_region, treatment_category
from .records import EXTRACT_FIELDS, JSON_FIELDS, arrow_schema, columns, letter_rows, text_row

_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _mention(e) -> dict[str, Any]:
    return {"text": _norm(e.text), "start": e.start_char, "end": e.end_char}


def diagnoses(doc, ents: Sequence[Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(asserted, negated) DIAGNOSIS mentions of a doc outside a letter's header, each text once
    (first mention's offsets) with its body region; a text both asserted and negated is asserted.
    ``ents``: the doc's entities when already read (``doc.ents`` walks every token on each read)."""
    from ..nlp.tag import has_header

    skip_header = has_header(doc)
    asserted: dict[str, dict[str, Any]] = {}
    negated: dict[str, dict[str, Any]] = {}
    for e in doc.ents if ents is None else ents:
        if e.label_ != "DIAGNOSIS" or (skip_header and e._.section == "header"):
            continue
        m = {**_mention(e), "body_region": body_region(e.text)}
        (negated if e._.negated else asserted).setdefault(m["text"].lower(), m)
    return list(asserted.values()), [m for k, m in negated.items() if k not in asserted]


def item_treatments(doc, letter: Letter, ents: Sequence[Any] | None = None) -> dict[int, list[dict[str, Any]]]:
    """Item index -> the TREATMENT mentions in that item's heading section, when the section
    is the item's (its text holds the start of the parsed item). Where the tagger found none
    there, the entity rules' TREATMENT spans (``doc.spans["rules"]``, kept by the fast
    pipeline) stand in: a heading is a short fixed-form line the rules read well, so one weak
    training run cannot empty the item rows' treatments."""
    out: dict[int, list[dict[str, Any]]] = {}
    heads = {s[3]: (s[1], s[2]) for s in doc._.sections or [] if s[0] == "item_decision" and s[3]}
    text = doc.text  # rebuilt from every token on each read, as doc.ents is: read once
    treatments = [e for e in (doc.ents if ents is None else ents) if e.label_ == "TREATMENT"]
    rules = [s for s in doc.spans.get("rules", []) if s.label_ == "TREATMENT"]
    for it in letter.items:
        span = heads.get(it.index)
        if not span or _norm(it.item)[:24].lower() not in _norm(text[span[0]:span[1]]).lower():
            continue
        out[it.index] = ([_mention(e) for e in treatments if span[0] <= e.start_char < span[1]]
                         or [_mention(e) for e in rules if span[0] <= e.start_char < span[1]])
    return out


def _facets(treatments: list[dict[str, Any]], fallback: str | None, dx: list, negated: list) -> dict[str, Any]:
    if not treatments and fallback:
        treatments = [{"text": _norm(fallback), "start": None, "end": None}]
    return {"treatments": treatments, "treatment_category": treatment_category([t["text"] for t in treatments]),
            "diagnoses": dx, "negated_diagnoses": negated,
            "body_regions": sorted({d["body_region"] for d in dx})}


def extracted_rows(rec: Letter | TextRow, doc) -> list[dict[str, Any]]:
    """The item rows of one record and its tagged doc (the fields of `EXTRACT_FIELDS`)."""
    ents = list(doc.ents)
    dx, negated = diagnoses(doc, ents)
    if isinstance(rec, TextRow):
        row = text_row(rec)
        row.update(_facets([_mention(e) for e in ents if e.label_ == "TREATMENT"], None, dx, negated))
        return [row]
    own = item_treatments(doc, rec, ents) if rec.text else {}
    rows = letter_rows(rec)
    for r, it in zip(rows, rec.items):
        r.update(_facets(own.get(it.index, []), it.item, dx, negated))
    return rows


def tagged_rows(nlp, records: list) -> tuple[list[tuple[Any, list[dict[str, Any]]]], list[dict[str, Any]]]:
    """Each record that the tagger could read with its item rows; error records for the rest."""
    from ..nlp.tag import tag_docs

    done, errors = [], []
    for rec, doc in tag_docs(nlp, records):
        if isinstance(doc, ParseError):
            errors.append(doc.to_dict())
        else:
            done.append((rec, extracted_rows(rec, doc)))
    return done, errors


def extract_batch(nlp, records: list) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``imr extract`` job's step: records -> item rows + error records."""
    done, errors = tagged_rows(nlp, records)
    return [r for _, rows in done for r in rows], errors


def extract(paths: Sequence[str | Path], nlp, out: str | Path, errors: str | Path | None = None,
            fmt: str | None = None, batch_size: int = 16, quiet: bool = False, restart: bool = False,
            model_ref: str = "default") -> Summary:
    """Run (or resume) an extraction job: the item rows of every record under ``paths``."""
    job = Job("extract", Path(out), errors, fmt, identity={"tagger": model_ref}, batch_size=batch_size,
              restart=restart, quiet=quiet, unit="items", columns=columns(EXTRACT_FIELDS),
              schema=arrow_schema(EXTRACT_FIELDS), json_columns=JSON_FIELDS)
    return run_job(paths, lambda recs: extract_batch(nlp, recs), job)
