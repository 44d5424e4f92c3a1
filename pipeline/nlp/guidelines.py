"""The ``imr_guidelines`` component: each disputed item's guideline lines, normalized.

It puts the normalized citations (`pipeline.nlp.citations.normalize`) of each item's
claims-administrator and MAXIMUS lines on ``doc._.items``, and the normalization of each
GUIDELINE entity on ``span._.guideline``.
"""
from __future__ import annotations

import re
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from .citations import normalize

if not Span.has_extension("guideline"):
    Span.set_extension("guideline", getter=lambda s: (normalize(s.text) or [None])[0]
                       if s.label_ == "GUIDELINE" else None)
if not Doc.has_extension("items"):
    Doc.set_extension("items", default=None)


def item_guidelines(doc: Doc) -> list[dict[str, Any]]:
    """Per disputed item: index, the claims-administrator and MAXIMUS guideline lines, normalized."""
    items: dict[int, dict[str, Any]] = {}
    text = None  # doc.text walks every token: read once, and only for a guideline line
    for name, start, end, item in doc._.sections or []:
        if not item:
            continue
        rec = items.setdefault(item, {"index": item, "claims_administrator_guideline": [],
                                      "maximus_guideline": []})
        if name in ("claims_administrator_guideline", "maximus_guideline"):
            text = doc.text if text is None else text
            rec[name] = normalize(_line_body(text[start:end]))
    return [items[k] for k in sorted(items)]


def _line_body(text: str) -> str:
    return re.sub(r"^\s*(?:Claims Administrator guideline|MAXIMUS guideline|Medical Treatment "
                  r"Guideline\(s\) relied upon by the (?:Claims Administrator|Expert Reviewer))\s*:",
                  "", text, flags=re.I)


@Language.factory("imr_guidelines")
def make_guidelines(nlp: Language, name: str):
    """Normalize each item's guideline lines onto ``doc._.items`` (needs ``imr_sections``)."""

    def guidelines(doc: Doc) -> Doc:
        doc._.items = item_guidelines(doc)
        return doc

    return guidelines
