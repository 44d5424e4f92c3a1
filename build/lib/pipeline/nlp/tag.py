"""Tag letters: entities (label, text, offsets, section, negation) and each item's
normalized guidelines, as one JSON record per letter (``imr tag``)."""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc

from ..io.schema import Letter, ParseError, TextRow


def entities(doc: Doc) -> list[dict[str, Any]]:
    return [{"label": e.label_, "text": e.text, "start": e.start_char, "end": e.end_char,
             "section": e._.section, "item": e._.item, "negated": bool(e._.negated)}
            for e in doc.ents]


def has_header(doc: Doc) -> bool:
    """Whether the doc is a letter with a header before its first section (a free text, with no
    section title, is all "header" and counts whole)."""
    return any(s[0] != "header" for s in doc._.sections or [])


def scored_entities(doc: Doc) -> list[dict[str, Any]]:
    """The entities the annotation guideline counts: a letter's header excepted, no negated
    diagnosis."""
    skip_header = has_header(doc)
    return [e for e in entities(doc) if not (skip_header and e["section"] == "header")
            and not (e["negated"] and e["label"] == "DIAGNOSIS")]


def letter_record(letter: Letter, doc: Doc) -> dict[str, Any]:
    """The output record of one parsed letter and its tagged doc: its entities, and per item
    the guideline citations the ``imr_guidelines`` component put on ``doc._.items``."""
    cited = {it["index"]: it for it in doc._.items or []}
    items = []
    for it in letter.items:
        c = cited.get(it.index, {})
        items.append({"index": it.index, "item": it.item, "decision": it.decision.value if it.decision else None,
                      "claims_administrator_guideline": c.get("claims_administrator_guideline", []),
                      "maximus_guideline": c.get("maximus_guideline", [])})
    return {"case_number": letter.case_number, "source": letter.source, "entities": entities(doc),
            "items": items}


def letter_text_of(letter: Letter | TextRow) -> str:
    """The text to tag: a letter's full text, or (DMHC rows) its case summary and items, or
    a text row's text."""
    if isinstance(letter, TextRow):
        return letter.text
    if letter.text:
        return letter.text
    parts = [letter.case_summary or ""]
    for it in letter.items:
        parts += [it.item or "", it.rationale or ""]
    return "\n\n".join(p for p in parts if p)


def tag_docs(nlp: Language, letters: list[Letter | TextRow], batch_size: int = 8
             ) -> Iterator[tuple[Letter | TextRow, Doc | ParseError]]:
    """Each record with its tagged doc, or with an error record (stage ``tag``) if the
    pipeline fails on it: a failing batch is retried one by one, so one bad letter never
    costs the others."""
    try:
        docs = list(nlp.pipe((letter_text_of(x) for x in letters), batch_size=batch_size))
    except Exception as e:  # noqa: BLE001  (any component error: isolate the record)
        if len(letters) == 1:
            yield letters[0], ParseError(letters[0].source, "tag-error", f"{type(e).__name__}: {e}", "tag")
            return
        for letter in letters:
            yield from tag_docs(nlp, [letter], batch_size)
        return
    yield from zip(letters, docs)


def record_of(rec: Letter | TextRow, doc: Doc) -> dict[str, Any]:
    """`letter_record` for a letter; for a text row, its id, source and entities."""
    if isinstance(rec, TextRow):
        return {"id": rec.id, "source": rec.source, "entities": entities(doc), "items": []}
    return letter_record(rec, doc)


def tag_letters(nlp: Language, letters: Iterable[Letter | TextRow], batch_size: int = 8
                ) -> Iterator[dict[str, Any]]:
    """One record per letter or text row; those the pipeline fails on are left out (`tag_batch`
    reports them)."""
    for rec, doc in tag_docs(nlp, list(letters), batch_size):
        if not isinstance(doc, ParseError):
            yield record_of(rec, doc)


def tag_batch(nlp: Language, records: list) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``imr tag`` job's step (`pipeline.io.jobs`): records -> tagged records + errors."""
    rows, errors = [], []
    for rec, doc in tag_docs(nlp, records):
        if isinstance(doc, ParseError):
            errors.append(doc.to_dict())
        else:
            rows.append(record_of(rec, doc))
    return rows, errors
