"""Letter sectionizer, in the style of medspaCy's ``medspacy_sectionizer``.

Section titles are rules (``rules/sections.jsonl``: a regex per title line, the
section it opens, whether it opens a new disputed item). Each section runs from its
title to the next title; text before the first title is the ``header``.
``doc._.sections`` holds ``(name, start_char, end_char, item)`` tuples (``item`` is
the 1-based disputed item for item-level sections, else 0), ``span._.section`` and
``span._.item`` give the section of any span (an entity) by its first character.
"""
from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Iterable, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from .rulefiles import RulesComponent, load_rules

DEFAULT_RULES = str(Path(__file__).parent / "rules" / "sections.jsonl")
HEADER = "header"


def _section_at(doc: Doc, char: int) -> tuple[str, int, int, int]:
    secs = doc._.sections or []
    starts = [s[1] for s in secs]
    i = bisect.bisect_right(starts, char) - 1
    return tuple(secs[i]) if i >= 0 else (HEADER, 0, len(doc.text), 0)


for _cls, _char in ((Span, lambda s: s.start_char), (Token, lambda t: t.idx)):
    if not _cls.has_extension("section"):
        _cls.set_extension("section", getter=lambda x, c=_char: _section_at(x.doc, c(x))[0])
        _cls.set_extension("item", getter=lambda x, c=_char: _section_at(x.doc, c(x))[3])
if not Doc.has_extension("sections"):
    Doc.set_extension("sections", default=None)


def find_sections(text: str, rules: Iterable[dict]) -> list[tuple[str, int, int, int]]:
    """Sections of ``text`` as (name, start_char, end_char, item), in order, covering it."""
    compiled = [(re.compile(r["pattern"], re.I), r) for r in rules]
    starts: list[tuple[int, str, bool]] = []
    pos = 0
    blank_before = 0  # char offset where the current paragraph began
    recent: list[int] = []  # starts of the last lines of the current paragraph
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if not body.strip():
            blank_before = pos + len(line)
            recent = []
        else:
            recent = (recent + [pos])[-4:]
            for rx, rule in compiled:
                if rx.search(body):
                    # a wrapped item heading starts up to 3 lines up, after a blank line or title
                    at = max(blank_before, recent[0]) if rule.get("paragraph") else pos
                    blank_before = pos + len(line)
                    recent = []
                    at += len(text[at:pos + len(line)]) - len(text[at:pos + len(line)].lstrip())
                    starts.append((at, rule["section"], bool(rule.get("starts_item"))))
                    break
        pos += len(line)
    uniq: dict[int, tuple[int, str, bool]] = {}
    for st in starts:  # one title per position; a paragraph title wins over a line inside it
        if st[0] not in uniq or st[2]:
            uniq[st[0]] = st
    starts = [uniq[k] for k in sorted(uniq)]
    out: list[tuple[str, int, int, int]] = []
    first = starts[0][0] if starts else len(text)
    if first > 0 or not starts:
        out.append((HEADER, 0, first, 0))
    item = 0
    seen_items = False
    for k, (at, name, new_item) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        if new_item:
            item += 1
            seen_items = True
        item_level = name in ITEM_SECTIONS and (seen_items or name != "maximus_guideline")
        out.append((name, at, end, item if item_level else 0))
    return [s for s in out if s[2] > s[1] or s[0] == HEADER]


ITEM_SECTIONS = {"item_decision", "claims_administrator_guideline", "maximus_guideline", "rationale"}


@Language.factory("imr_sections", default_config={"rules": None})
class Sectionizer(RulesComponent):
    """Split an IMR letter into sections (header, determination, case summary, each
    item's decision, guideline lines and rationale) from title rules."""

    def __init__(self, nlp: Language, name: str, rules: Optional[str] = None):
        self.name = name
        self.rules = load_rules(rules or DEFAULT_RULES)

    def __call__(self, doc: Doc) -> Doc:
        doc._.sections = [list(s) for s in find_sections(doc.text, self.rules)]
        return doc

