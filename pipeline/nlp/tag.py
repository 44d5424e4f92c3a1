"""Tag letters: entities (label, text, offsets, section, negation) and each item's
normalized guidelines, as one JSON record per letter (``imr tag``)."""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc

from .guidelines import normalize


def entities(doc: Doc) -> list[dict[str, Any]]:
    return [{"label": e.label_, "text": e.text, "start": e.start_char, "end": e.end_char,
             "section": e._.section, "item": e._.item, "negated": bool(e._.negated)}
            for e in doc.ents]


def scored_entities(doc: Doc) -> list[dict[str, Any]]:
    """The entities the annotation guideline counts: header excepted, no negated diagnosis."""
    return [e for e in entities(doc) if e["section"] != "header"
            and not (e["negated"] and e["label"] == "DIAGNOSIS")]


def letter_record(letter, doc: Doc) -> dict[str, Any]:
    """The output record of one parsed letter and its tagged doc."""
    items = []
    for it in letter.items:
        items.append({"index": it.index, "item": it.item, "decision": it.decision.value,
                      "claims_administrator_guideline": normalize(it.claims_administrator_guideline),
                      "maximus_guideline": normalize(it.maximus_guideline)})
    return {"case_number": letter.case_number, "source": letter.source, "entities": entities(doc),
            "items": items}


def letter_text_of(letter) -> str:
    """The text to tag: the letter's full text, or (DMHC rows) its case summary and items."""
    if letter.text:
        return letter.text
    parts = [letter.case_summary or ""]
    for it in letter.items:
        parts += [it.item or "", it.rationale or ""]
    return "\n\n".join(p for p in parts if p)


def tag_letters(nlp: Language, letters: Iterable, batch_size: int = 8) -> Iterator[dict[str, Any]]:
    """One record per letter, tagged in batches with ``nlp.pipe``."""
    batch = list(letters)
    for letter, doc in zip(batch, nlp.pipe((letter_text_of(x) for x in batch), batch_size=batch_size)):
        yield letter_record(letter, doc)
