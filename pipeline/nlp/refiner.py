"""A learned span refiner: re-draws or drops the rule entities' DIAGNOSIS / TREATMENT spans.

For each rule entity, candidate spans are drawn around it in its sentence (start moved up
to ``left`` tokens out or ``inner`` tokens in, end ``inner`` tokens in or ``right`` tokens
out). A logistic regression over hashed features of each candidate (its edge words, the
words before and after it, the words it adds to or removes from the rule span, its length,
section and label, the words inside it; for ``ner_labels``, whether the trained NER
found the same span) scores how likely it is to be exactly the annotated span. The best
candidate replaces the rule span; an entity whose best candidate scores below
``threshold`` is dropped. Trained by ``imr train-tagger`` on the hand-labelled development
letters; untrained, it leaves the entities as they are. Header and negated entities
stay as they are (the guideline does not annotate them).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, NamedTuple, Optional

import numpy as np
from spacy.attrs import IDX, IS_SPACE, LENGTH, LOWER, SHAPE
from spacy.language import Language
from spacy.tokens import Doc, Span

# Words a span never starts or ends with (the candidates skip them).
EDGE_WORDS = frozenset({",", ";", ":", "and", "or", "the", "of", "for", "with", "to", "a", "an",
                        "-", "/"})

Mention = tuple[int, int, str]  # start_char, end_char, label


def refinable(ent: Span) -> bool:
    """Whether the refiner may touch an entity: not in the header, not negated (the
    guideline annotates neither). Training and tagging use the same test."""
    return ent._.section != "header" and not ent._.negated
_DIGIT = re.compile(r"\d")


class Tokens(NamedTuple):
    """What the features read of a doc, computed once per doc."""
    words: list[str]    # lower case, digits as 0
    shapes: list[str]
    starts: list[int]   # char offsets
    ends: list[int]
    blank: list[bool]   # whitespace token
    text: str

    @classmethod
    def of(cls, doc: Doc) -> "Tokens":
        # one array read instead of a Token object per token and attribute (the refiner's main cost)
        arr = doc.to_array([LOWER, SHAPE, IDX, LENGTH, IS_SPACE])
        strings = doc.vocab.strings

        def column(j: int, norm) -> list[str]:  # hashes -> strings, each distinct one once
            uniq, inv = np.unique(arr[:, j], return_inverse=True)
            names = [norm(strings[int(h)]) for h in uniq]
            return [names[i] for i in inv.tolist()]

        starts = arr[:, 2].astype(np.int64)
        return cls(column(0, lambda w: _DIGIT.sub("0", w)), column(1, str), starts.tolist(),
                   (starts + arr[:, 3].astype(np.int64)).tolist(), arr[:, 4].astype(bool).tolist(),
                   doc.text)


def candidates(doc: Doc, tv: Tokens, s: int, e: int, left: int = 4, inner: int = 3,
               right: int = 12) -> list[tuple[int, int]]:
    """Token spans (a, b) around the rule span [s, e) within its sentence; (s, e) included."""
    sent = doc[s].sent
    lo, hi = max(sent.start, s - left), min(sent.end, e + right)
    out = []
    for a in range(lo, min(s + inner, e - 1) + 1):
        if tv.blank[a] or tv.words[a] in EDGE_WORDS or tv.words[a] == ".":
            continue
        for b in range(max(a + 1, e - inner), hi + 1):
            if not (tv.blank[b - 1] or tv.words[b - 1] in EDGE_WORDS):
                out.append((a, b))
    if (s, e) not in out:
        out.append((s, e))
    return out


def features(tv: Tokens, s: int, e: int, a: int, b: int, label: str, section: str) -> list[str]:
    """Hashed-feature names of candidate [a, b) for the rule span [s, e)."""
    w, n = tv.words, len(tv.words)
    prev, nxt = w[a - 1] if a > 0 else "<s>", w[b] if b < n else "</s>"
    text = tv.text[tv.starts[a]:tv.ends[b - 1]]
    f = [f"L={label}", f"ds={a - s}", f"de={b - e}", f"ds={a - s}|{label}", f"de={b - e}|{label}",
         f"sec={section}|{label}", f"first={w[a]}|{label}", f"last={w[b - 1]}|{label}",
         f"firstshape={tv.shapes[a]}", f"lastshape={tv.shapes[b - 1]}",
         f"prev={prev}|{label}", f"next={nxt}|{label}",
         f"prevshape={tv.shapes[a - 1] if a > 0 else '<s>'}",
         f"nextshape={tv.shapes[b] if b < n else '</s>'}",
         f"nl={min(text.count(chr(10)), 2)}", f"paren={text.count('(') - text.count(')')}",
         f"commas={min(text.count(','), 3)}|{label}", f"len={min(b - a, 12)}|{label}",
         f"olen={min(e - s, 12)}|{label}"]
    f += [f"in={w[i]}|{label}" for i in range(a, b)]
    f += [f"addL={w[i]}|{label}" for i in range(a, s)]
    f += [f"remL={w[i]}|{label}" for i in range(s, min(a, e))]
    f += [f"addR={w[i]}|{label}" for i in range(e, b)]
    f += [f"remR={w[i]}|{label}" for i in range(max(b, s), e)]
    if (a, b) == (s, e):
        f.append(f"orig|{label}")
    return f


def ner_features(ner: set[Mention], a: int, b: int, label: str) -> list[str]:
    """How the NER's entities (char offsets) agree with candidate [a, b) (char offsets)."""
    if (a, b, label) in ner:
        f = [f"ner=exact|{label}"]
    elif any(s < b and a < e and lab == label for s, e, lab in ner):
        f = [f"ner=overlap|{label}"]
    else:
        f = [f"ner=none|{label}"]
    f += [f"ner=start|{label}" for s, _, lab in ner if s == a and lab == label][:1]
    f += [f"ner=end|{label}" for _, e, lab in ner if e == b and lab == label][:1]
    return f


def candidate_rows(doc: Doc, mentions: Iterable[tuple[int, int, str, str]], labels: Iterable[str],
                   ner_labels: Iterable[str] = ()):
    """(mention index, start_char, end_char, label) and feature lists for each candidate of
    each mention (start_char, end_char, label, section) with a label in ``labels``; for
    ``ner_labels``, with how the NER entities on ``doc.spans["ner"]`` agree with it."""
    rows, feats = [], []
    tv = Tokens.of(doc)
    ner = {(e.start_char, e.end_char, e.label_) for e in doc.spans.get("ner", [])}
    for k, (sc, ec, label, section) in enumerate(mentions):
        sp = doc.char_span(sc, ec, alignment_mode="expand")
        if label not in labels or sp is None or not len(sp):
            continue
        for a, b in candidates(doc, tv, sp.start, sp.end):
            rows.append((k, tv.starts[a], tv.ends[b - 1], label))
            feats.append(features(tv, sp.start, sp.end, a, b, label, section))
            if label in ner_labels:
                feats[-1] += ner_features(ner, tv.starts[a], tv.ends[b - 1], label)
    return rows, feats


@Language.factory("imr_span_refiner", default_config={"labels": ["DIAGNOSIS", "TREATMENT"],
                                                      "ner_labels": ["TREATMENT"],
                                                      "threshold": 0.3, "n_features": 262144})
class SpanRefiner:
    """Re-draw (or drop) the ``labels`` entities of the rules by a learned candidate scorer."""

    def __init__(self, nlp: Language, name: str, labels: list[str], ner_labels: list[str],
                 threshold: float, n_features: int):
        self.name = name
        self.labels = set(labels)
        self.ner_labels = set(ner_labels)
        self.threshold = threshold
        self.n_features = n_features
        self.coef: Optional[np.ndarray] = None
        self.intercept = 0.0

    def _hash(self, feats: list[list[str]]):
        # sklearn is imported here, not at start-up: an untrained refiner never needs it
        from sklearn.feature_extraction import FeatureHasher

        return FeatureHasher(self.n_features, input_type="string", alternate_sign=False).transform(feats)

    def fit(self, examples: Iterable[tuple[Doc, list[tuple[int, int, str, str]], set[Mention]]],
            C: float = 1.0) -> dict[str, int]:
        """Learn from (doc, rule mentions with sections, annotated (start, end, label) set)."""
        from sklearn.linear_model import LogisticRegression

        feats, y, n_docs = [], [], 0
        for doc, mentions, gold in examples:
            rows, f = candidate_rows(doc, mentions, self.labels, self.ner_labels)
            feats += f
            y += [(a, b, lab) in gold for _, a, b, lab in rows]
            n_docs += 1
        model = LogisticRegression(C=C, max_iter=2000).fit(self._hash(feats), y)
        self.coef = model.coef_[0].astype(np.float32)
        self.intercept = float(model.intercept_[0])
        return {"docs": n_docs, "candidates": len(y), "positives": int(sum(y))}

    def refine(self, doc: Doc, mentions: list[tuple[int, int, str, str]]) -> list[Mention]:
        """The refined (start, end, label) of ``mentions``; other labels pass unchanged."""
        out = [(s, e, lab) for s, e, lab, _ in mentions if lab not in self.labels]
        rows, feats = candidate_rows(doc, mentions, self.labels, self.ner_labels)
        if self.coef is None or not rows:
            return [(s, e, lab) for s, e, lab, _ in mentions]
        z = self._hash(feats) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        best: dict[int, tuple[float, int, int, str]] = {}
        for (k, a, b, lab), pk in zip(rows, p):
            if k not in best or pk > best[k][0]:
                best[k] = (float(pk), a, b, lab)
        taken: list[tuple[int, int]] = []
        for pk, a, b, lab in sorted(best.values(), reverse=True):
            if pk >= self.threshold and all(b <= ta or a >= tb for ta, tb in taken):
                taken.append((a, b))
                out.append((a, b, lab))
        return sorted(out)

    def __call__(self, doc: Doc) -> Doc:
        ents = doc.ents  # read once: each read walks every token
        if self.coef is None or not ents:
            return doc
        fixed, todo = [], []
        for e in ents:
            if e.label_ in self.labels and refinable(e):
                todo.append((e.start_char, e.end_char, e.label_, e._.section))
            else:
                fixed.append(e)
        spans = list(fixed)
        for s, e, lab in self.refine(doc, todo):
            sp = doc.char_span(s, e, label=lab)
            if sp is not None and all(sp.end <= f.start or sp.start >= f.end for f in fixed):
                spans.append(sp)
        doc.ents = sorted(spans, key=lambda x: x.start)
        return doc

    def to_disk(self, path, exclude=tuple()):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.coef is not None:
            np.save(path / "coef.npy", self.coef)
            (path / "model.json").write_text(json.dumps({"intercept": self.intercept}))

    def from_disk(self, path, exclude=tuple()):
        path = Path(path)
        if (path / "coef.npy").exists():
            self.coef = np.load(path / "coef.npy")
            self.intercept = json.loads((path / "model.json").read_text())["intercept"]
        return self
