"""NegEx-style assertion: ``span._.negated`` for entities in the scope of a negation or
hedge ("rule out X", "no evidence of X", "X was ruled out"); triggers are data
(``rules/negation.jsonl``: trigger phrase, direction forward/backward/terminate).

A forward trigger negates entities after it in the same sentence, up to ``window``
tokens or a terminating term; a backward trigger negates entities just before it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

from .rulefiles import RulesComponent, load_rules

DEFAULT_RULES = str(Path(__file__).parent / "rules" / "negation.jsonl")

if not Span.has_extension("negated"):
    Span.set_extension("negated", default=False)


@Language.factory("imr_negation", default_config={"rules": None, "window": 8,
                                                  "labels": ["DIAGNOSIS", "TREATMENT"]})
class Negation(RulesComponent):
    """Flag entities in the scope of negation/hedging triggers (``span._.negated``)."""

    def __init__(self, nlp: Language, name: str, rules: Optional[str] = None, window: int = 8,
                 labels: list[str] = ("DIAGNOSIS", "TREATMENT")):
        self.name = name
        self.window = window
        self.labels = tuple(labels)  # in config order: spaCy writes them to meta.json
        self.rules = load_rules(rules or DEFAULT_RULES)
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._nlp = nlp
        self.compile()

    def compile(self) -> None:
        self.matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        for r in self.rules:
            self.matcher.add(r["direction"], [self._nlp.make_doc(r["trigger"])])

    def __call__(self, doc: Doc) -> Doc:
        ents = [e for e in doc.ents if e.label_ in self.labels]
        if not ents:
            return doc
        matches = sorted(self.matcher(doc), key=lambda m: m[1])
        terms = [(doc.vocab.strings[m], s, e) for m, s, e in matches]
        stops = [s for d, s, _ in terms if d == "terminate"]
        for direction, start, end in terms:
            if direction == "forward":
                sent_end = doc[start].sent.end if doc.has_annotation("SENT_START") else len(doc)
                limit = min(end + self.window, sent_end)
                limit = min([limit] + [s for s in stops if s >= end])
                for e in ents:
                    if end <= e.start < limit:
                        e._.negated = True
            elif direction == "backward":
                for e in ents:
                    if 0 <= start - e.end <= 3:
                        e._.negated = True
        return doc

