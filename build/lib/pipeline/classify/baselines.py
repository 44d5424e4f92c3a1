"""scikit-learn baselines: majority class, TF-IDF + logistic regression, and (prior setting)
structured features + logistic regression. All balance the classes (``class_weight``).
Each takes exactly its own parameters: a config key it does not know is an error."""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..extract.facets import guideline_sources, specialty_family, treatment_category
from .base import Classifier
from .examples import Example

_LINE = re.compile(r"^(Item|Claims administrator guideline|Case summary|Decision rationale):\s*", re.M)


def _pickle_save(obj: Any, path: Path) -> None:
    with (path / "model.pkl").open("wb") as fh:
        pickle.dump(obj, fh)


def _pickle_load(path: Path) -> Any:
    with (path / "model.pkl").open("rb") as fh:
        return pickle.load(fh)


def _labels(examples: Sequence[Example]) -> np.ndarray:
    y = np.array([e.label for e in examples], dtype=int)
    if (y < 0).any():
        raise ValueError("cannot fit on unlabelled examples")
    return y


class MajorityClassifier(Classifier):
    """Always the training base rate of Overturned (sklearn DummyClassifier, strategy prior)."""

    kind = "majority"

    def __init__(self):
        super().__init__()

    def fit(self, examples):
        from sklearn.dummy import DummyClassifier

        y = _labels(examples)
        self.model = DummyClassifier(strategy="prior").fit(np.zeros((len(y), 1)), y)
        return self

    def raw_proba(self, examples):
        p = self.model.predict_proba(np.zeros((len(examples), 1)))
        classes = list(self.model.classes_)
        return p[:, classes.index(1)] if 1 in classes else np.zeros(len(examples))

    def _save_model(self, path):
        _pickle_save(self.model, path)

    def _load_model(self, path):
        self.model = _pickle_load(path)


class TfidfLR(Classifier):
    """Word 1-2-gram TF-IDF (sublinear tf) + class-balanced logistic regression."""

    kind = "tfidf_lr"

    def __init__(self, ngram_max: int = 2, min_df: int = 2, max_features: int = 50000, C: float = 4.0):
        super().__init__(ngram_max=ngram_max, min_df=min_df, max_features=max_features, C=C)

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        p = self.params
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, p["ngram_max"]), min_df=p["min_df"],
                            max_features=p["max_features"], sublinear_tf=True, strip_accents="unicode"),
            LogisticRegression(C=p["C"], class_weight="balanced", max_iter=2000))

    def fit(self, examples):
        self.model = self._pipeline().fit([e.text for e in examples], _labels(examples))
        return self

    def raw_proba(self, examples):
        return self.model.predict_proba([e.text for e in examples])[:, 1]

    def _save_model(self, path):
        _pickle_save(self.model, path)

    def _load_model(self, path):
        self.model = _pickle_load(path)


def _field(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", text, re.M)
    return m.group(1) if m else ""


def structured_features(e: Example) -> dict[str, Any]:
    """The item's facets from the tagger's item row (`pipeline.extract`): treatment category,
    the diagnoses' body regions; the claims administrator's guideline sources and chapters
    (`pipeline.nlp.citations`); the reviewer's specialty; partial authorization. An example
    without a row's facets (an ``id,text`` input) falls back to its text's item line."""
    from ..nlp.citations import normalize

    item = e.item or _field(e.text, "Item") or e.text[:200]
    guideline = e.guideline if e.guideline is not None else _field(e.text, "Claims administrator guideline")
    category = e.treatment_category or treatment_category(item)
    f: dict[str, Any] = {f"treatment={category}": 1, f"specialty={specialty_family(e.specialty)}": 1}
    for s in guideline_sources(guideline):
        f[f"guideline={s}"] = 1
    for c in normalize(guideline):
        f[f"chapter={c['source']}:{(c['chapter'] or '').lower()[:60]}"] = 1
    for r in e.body_regions or []:
        f[f"region={r}"] = 1
    f["partial_authorization"] = int("original request" in item.lower())
    return f


class StructuredLR(Classifier):
    """One-hot item facets from the tagger's item rows (`structured_features`) + class-balanced
    logistic regression."""

    kind = "structured"

    def __init__(self, C: float = 1.0):
        super().__init__(C=C)

    def fit(self, examples):
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.model = make_pipeline(DictVectorizer(),
                                   LogisticRegression(C=self.params["C"], class_weight="balanced",
                                                      max_iter=2000))
        self.model.fit([structured_features(e) for e in examples], _labels(examples))
        return self

    def raw_proba(self, examples):
        return self.model.predict_proba([structured_features(e) for e in examples])[:, 1]

    def _save_model(self, path):
        _pickle_save(self.model, path)

    def _load_model(self, path):
        self.model = _pickle_load(path)
