"""Rule-based DIAGNOSIS / TREATMENT / GUIDELINE tagging from data files.

``rules/entities.jsonl`` holds one rule per line, three kinds:

- ``{"macro": "DOSE", "regex": "..."}``: a named regex fragment, used as ``{DOSE}`` (also in
  a pattern's ``split``, ``drop`` and ``join`` regexes);
- ``{"lexicon": "drug", "terms": ["Norco", ...]}``: a term list, used as ``{drug}``
  (an alternation, longest first, spaces matching any whitespace incl. line wraps);
- ``{"label": "TREATMENT", "regex": "...", "priority": 1, "split": "..."}``: a pattern
  (label ``BLOCK``: a stretch where nothing is tagged, e.g. "Section(s): ...");
  a named group ``e`` marks the entity inside a wider context match, and ``split``
  cuts that group into several mentions (lists such as "diagnoses of A, B and C"),
  ``drop`` skips list pieces that are not mentions ("subsequent encounter"), ``join``
  glues a piece back onto the one before it when it only completes that one
  ("strain of muscle, fascia and tendon", "disc displacement, lumbosacral region"),
  ``join_next`` onto the one after it ("left knee medial" + "lateral meniscus tear");
  ``sections`` limits a pattern to some letter sections (from ``imr_sections``).

Matches are case-insensitive, on word boundaries. Overlaps resolve by priority, then
length. With ``overwrite`` the rule entities replace overlapping entities already on
the doc (from the trained ``ner``), which otherwise fill in what the rules miss.
"""
from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import NamedTuple, Optional

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from .rulefiles import RulesComponent, load_rules

DEFAULT_RULES = str(Path(__file__).parent / "rules" / "entities.jsonl")
LABELS = ("DIAGNOSIS", "TREATMENT", "GUIDELINE")
BLOCK = "BLOCK"  # a rule label that only keeps other rules off a stretch of text
_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TRIM_LEAD = re.compile(r"^(?:(?:(?:a|an|the|his|her|their|reported|and|or|with|of|for|"
                        r"persistent|ongoing|worsening|symptomatic|some)\b|"
                        r"[\"“]|\s|,|;|:|\d+[.)])+\s*)+", re.I)
_TRIM_TAIL = re.compile(r"(?:\s*\((?-i:[A-Z]{2,6})\))?[\s,;:.]*$")  # also an abbreviation "(LBP)"


def _term(t: str) -> str:
    return r"\s+".join(re.escape(w) for w in t.split())


def _trie_regex(terms: list[str]) -> str:
    """One alternation for many terms, factored by common prefix (much faster than a flat
    ``a|b|c``); words are matched case-insensitively, spaces as any whitespace."""
    trie: dict = {}
    for t in terms:
        node = trie
        for ch in " ".join(t.lower().split()):
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts, end = [], "" in node
        for ch in sorted(k for k in node if k):
            # spaces match any whitespace; a hyphen may end a wrapped line ("anti-\ninflammatories")
            alts.append({" ": r"\s+", "-": r"-\s*"}.get(ch, re.escape(ch)) + emit(node[ch]))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not end else "(?:" + "|".join(alts) + ")"
        return body + ("?" if end else "")

    return "(?:" + emit(trie) + ")"


class Rule(NamedTuple):
    """One compiled pattern of ``rules/entities.jsonl`` (see the module docstring)."""
    label: str
    rx: re.Pattern
    priority: int
    split: Optional[re.Pattern]
    sections: Optional[frozenset]
    drop: Optional[re.Pattern]
    join: Optional[re.Pattern]
    join_next: Optional[re.Pattern]


def compile_rules(rules: list[dict]) -> list[Rule]:
    """Expand macros and lexicons; compile each pattern."""
    env: dict[str, str] = {}
    for r in rules:
        if "lexicon" in r:
            terms = sorted(set(r["terms"]) | set(env.get(r["lexicon"], "").split("\x00")) - {""},
                           key=len, reverse=True)
            env[r["lexicon"]] = "\x00".join(terms)
    env = {k: _trie_regex(v.split("\x00")) for k, v in env.items()}

    def expand(rx: str, depth: int = 0) -> str:
        if depth > 8:
            raise ValueError(f"macro recursion in {rx!r}")
        return _REF.sub(lambda m: expand(env[m.group(1)], depth + 1) if m.group(1) in env
                        else m.group(0), rx)

    for r in rules:
        if "macro" in r:
            env[r["macro"]] = "(?:" + r["regex"] + ")"
    out = []
    for r in rules:
        if "label" in r:
            # no match inside a word or a slashed name ("EMG/NCV"), except guidelines ("MTUS/ACOEM")
            before = r"(?<![\w-])" if r["label"] == "GUIDELINE" else r"(?<![\w/-])"
            rx = re.compile(before + "(?:" + expand(r["regex"]) + r")(?![\w])", re.I)
            opt = {k: re.compile(expand(r[k]), re.I) if r.get(k) else None
                   for k in ("split", "drop", "join", "join_next")}
            where = frozenset(r["sections"]) if r.get("sections") else None
            out.append(Rule(r["label"], rx, int(r.get("priority", 0)), opt["split"], where,
                            opt["drop"], opt["join"], opt["join_next"]))
    return out


def list_pieces(text: str, s: int, e: int, rule: Rule) -> list[tuple[int, int]]:
    """The mentions of a list match ``text[s:e]``: cut by ``rule.split``; a piece matching
    ``rule.join`` (after its leading "and"/"the"...) is glued back onto the one before it
    ("strain of muscle, fascia and tendon", "disc displacement, lumbosacral region"), and one
    matching ``rule.join_next`` onto the one after it ("hip" + "knee strain"); each piece is
    then trimmed, and dropped if it matches ``rule.drop``."""
    raw: list[list] = []  # [start, end, waits for the next piece]
    pos = s
    for piece in rule.split.split(text[s:e]):
        if piece is None:
            continue
        ps = text.index(piece, pos) if piece else pos
        pos = pe = ps + len(piece)
        lead = _TRIM_LEAD.match(piece)
        core = piece[lead.end() if lead else 0:].strip()
        if raw and rule.join is not None and core and rule.join.fullmatch(core):
            raw[-1][1] = pe  # completes the piece before
        elif raw and raw[-1][2]:
            raw[-1][1:] = [pe, False]  # the piece before was waiting for this one
        else:
            waits = bool(rule.join_next is not None and core and rule.join_next.fullmatch(core))
            raw.append([ps, pe, waits])
    out = []
    for ps, pe, _ in raw:
        lead = _TRIM_LEAD.match(text[ps:pe])
        ps2 = ps + (lead.end() if lead else 0)
        tail = _TRIM_TAIL.search(text[ps2:pe])
        pe2 = ps2 + tail.start() if tail else pe
        if pe2 - ps2 >= 3 and re.search(r"[A-Za-z]{3}", text[ps2:pe2]) and not (
                rule.drop and rule.drop.search(text[ps2:pe2])):
            out.append((ps2, pe2))
    return out


def find_entities(text: str, compiled, sections: Optional[list] = None) -> list[tuple[int, int, str]]:
    """(start, end, label) char spans of the rule matches, overlaps resolved. A rule with
    ``sections`` only applies there (``sections``: the doc's (name, start, end, item))."""
    starts = [sec[1] for sec in sections or []]

    def section_at(char: int) -> str:
        i = bisect.bisect_right(starts, char) - 1
        return sections[i][0] if i >= 0 else "header"

    cands: list[tuple[int, int, int, str]] = []
    for rule in compiled:
        for m in rule.rx.finditer(text):
            s, e = m.span("e") if "e" in rule.rx.groupindex and m.group("e") is not None else m.span()
            if rule.sections is not None and sections and section_at(s) not in rule.sections:
                continue
            if rule.split is None:
                cands.append((s, e, rule.priority, rule.label))
            else:
                cands += [(ps, pe, rule.priority, rule.label) for ps, pe in list_pieces(text, s, e, rule)]
    cands.sort(key=lambda c: (-c[2], -(c[1] - c[0]), c[0]))
    taken: list[tuple[int, int, str]] = []
    for s, e, _, label in cands:
        if all(e <= ts or s >= te for ts, te, _ in taken):
            taken.append((s, e, label))
    return sorted(t for t in taken if t[2] != BLOCK)


@Language.factory("imr_entity_rules", default_config={"rules": None, "overwrite": True,
                                                     "ner_fill": list(LABELS), "ner_boundaries": [],
                                                     "spans_key": None})
class EntityRules(RulesComponent):
    """Tag DIAGNOSIS, TREATMENT and GUIDELINE from regex/lexicon rules (data files).

    With a trained ``ner`` ahead of this component, its entities are kept on
    ``doc.spans["ner"]``; ``ner_fill``: labels for which NER entities that overlap no rule
    entity stay in ``doc.ents``; ``ner_boundaries``: labels for which a NER entity that
    overlaps exactly one rule entity of the same label (and nothing else) keeps its own
    boundaries. configs/nlp.cfg sets both to [] (measured on held-out dev letters: the NER
    lowers exact-span F1 either way).

    With ``spans_key`` the rule entities only go to ``doc.spans[spans_key]`` and ``doc.ents``
    is left alone: the fast pipeline runs the rules ahead of its NER (as NER features,
    `pipeline.nlp.features`) and merges both after it (``imr_entity_merge``)."""

    def __init__(self, nlp: Language, name: str, rules: Optional[str] = None,
                 overwrite: bool = True, ner_fill: list[str] = LABELS,
                 ner_boundaries: list[str] = (), spans_key: Optional[str] = None):
        self.name = name
        self.spans_key = spans_key
        self.overwrite = overwrite
        self.ner_fill = set(ner_fill)
        self.ner_boundaries = set(ner_boundaries)
        self.rules = load_rules(rules or DEFAULT_RULES)
        self.compile()

    def compile(self) -> None:
        self.compiled = compile_rules(self.rules)

    def spans(self, doc: Doc) -> list[Span]:
        out = []
        for s, e, label in find_entities(doc.text, self.compiled, doc._.sections):
            sp = doc.char_span(s, e, label=label, alignment_mode="contract")
            if sp is None:
                continue
            a, b = sp.start, sp.end
            while a < b and doc[a].is_space:
                a += 1
            while b > a and doc[b - 1].is_space:
                b -= 1
            if b > a:
                out.append(Span(doc, a, b, label=label))
        return out

    def __call__(self, doc: Doc) -> Doc:
        rule = filter_spans(self.spans(doc))
        if self.spans_key:
            doc.spans[self.spans_key] = rule
            return doc
        old = list(doc.ents)
        if old:
            doc.spans["ner"] = old
        if self.ner_boundaries and old:
            rule = self._ner_boundaries(old, rule)
        old = [o for o in old if o.label_ in self.ner_fill]
        if self.overwrite:
            keep = [o for o in old if all(o.end <= r.start or o.start >= r.end for r in rule)]
            doc.ents = sorted(keep + rule, key=lambda s: s.start)
        else:
            keep = [r for r in rule if all(o.end <= r.start or o.start >= r.end for o in old)]
            doc.ents = sorted(old + keep, key=lambda s: s.start)
        return doc

    def _ner_boundaries(self, ner: list[Span], rule: list[Span]) -> list[Span]:
        """Rule entities, where a NER entity of the same label (in ``ner_boundaries``) overlaps
        exactly one of them and no other rule entity, replaced by that NER entity."""
        out = list(rule)
        for o in ner:
            if o.label_ not in self.ner_boundaries:
                continue
            hit = [i for i, r in enumerate(out) if r.start < o.end and o.start < r.end]
            if len(hit) == 1 and out[hit[0]].label_ == o.label_:
                out[hit[0]] = o
        return filter_spans(out)


@Language.factory("imr_entity_merge", default_config={"spans_key": "rules", "ner_labels": list(LABELS),
                                                     "rules_first": ["GUIDELINE"], "rules_fill": []})
class EntityMerge:
    """``doc.ents`` from the NER's entities and the rule entities on ``doc.spans[spans_key]``,
    label by label: ``rules_first``: rule entities win over overlapping NER entities;
    ``rules_fill``: rule entities are added where no NER entity overlaps them; ``ner_labels``:
    the labels the NER may contribute at all (a label in none of the three lists is not
    tagged). The NER's own entities stay on ``doc.spans["ner"]``."""

    def __init__(self, nlp: Language, name: str, spans_key: str, ner_labels: list[str],
                 rules_first: list[str], rules_fill: list[str]):
        self.name = name
        self.spans_key = spans_key
        self.ner_labels = set(ner_labels)
        self.rules_first = set(rules_first)
        self.rules_fill = set(rules_fill)

    def __call__(self, doc: Doc) -> Doc:
        ner = list(doc.ents)
        doc.spans["ner"] = ner
        rules = list(doc.spans.get(self.spans_key, []))
        ranked = ([(0, r) for r in rules if r.label_ in self.rules_first]
                  + [(1, e) for e in ner if e.label_ in self.ner_labels]
                  + [(2, r) for r in rules if r.label_ in self.rules_fill])
        taken: list[Span] = []
        for _, sp in sorted(ranked, key=lambda x: (x[0], x[1].start)):
            if all(sp.end <= t.start or sp.start >= t.end for t in taken):
                taken.append(sp)
        doc.ents = sorted(taken, key=lambda s: s.start)
        return doc
