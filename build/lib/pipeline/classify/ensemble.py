"""TF-IDF and sentence-embedding models averaged: the leak-free predictor for short case texts.

Two members on the same inputs:

1. word 1-2-gram TF-IDF (raw term counts, ``min_df`` rows) + logistic regression;
2. mean-pooled ``encoder`` embeddings (`pipeline.encoders.embed`: all-mpnet-base-v2 by
   default), L2-normalized, centred on the training mean, the top principal direction
   removed (it carries length and style, not outcome) and re-normalized + an RBF SVM.

Each member's logit is divided by the spread of its own out-of-fold logits on an inner
k-fold split of the training rows (so that neither dominates), the two are averaged and
passed through a sigmoid. No weights are learned. Choices made on cross-validation of the
health-plan training rows: docs/EXPERIMENTS.md.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from ..encoders import MPNET, embed
from .base import Classifier
from .examples import Example


class _EmbeddingSVC:
    """RBF SVM on centred embeddings with their top ``drop_pcs`` principal directions removed."""

    def __init__(self, C: float, drop_pcs: int):
        self.C, self.drop_pcs = C, drop_pcs

    def _post(self, E: np.ndarray) -> np.ndarray:
        E = E / np.linalg.norm(E, axis=1, keepdims=True) - self.mu
        if self.drop_pcs:
            E = E - (E @ self.U.T) @ self.U
        return E / np.linalg.norm(E, axis=1, keepdims=True)

    def fit(self, E: np.ndarray, y: np.ndarray) -> "_EmbeddingSVC":
        from sklearn.svm import SVC

        E = np.asarray(E, dtype=np.float64)
        En = E / np.linalg.norm(E, axis=1, keepdims=True)
        self.mu = En.mean(0)
        self.U = np.linalg.svd(En - self.mu, full_matrices=False)[2][: self.drop_pcs]
        self.svm = SVC(C=self.C, kernel="rbf", gamma="scale").fit(self._post(E), y)
        return self

    def decision_function(self, E: np.ndarray) -> np.ndarray:
        return self.svm.decision_function(self._post(np.asarray(E, dtype=np.float64)))


class EmbeddingEnsemble(Classifier):
    kind = "embed_ensemble"

    def __init__(self, encoder: str = MPNET, max_length: int = 512, tfidf_C: float = 1.0, min_df: int = 3,
                 svc_C: float = 3.0, drop_pcs: int = 1, inner_folds: int = 5, seed: int = 0):
        super().__init__(encoder=encoder, max_length=max_length, tfidf_C=tfidf_C, min_df=min_df, svc_C=svc_C,
                         drop_pcs=drop_pcs, inner_folds=inner_folds, seed=seed)

    def _members(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        p = self.params
        tfidf = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=p["min_df"], sublinear_tf=False,
                                              strip_accents="unicode", lowercase=True),
                              LogisticRegression(C=p["tfidf_C"], max_iter=5000))
        return tfidf, _EmbeddingSVC(p["svc_C"], p["drop_pcs"])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed(texts, self.params["encoder"], self.params["max_length"])

    @staticmethod
    def _logits(tfidf, svc, T, E) -> np.ndarray:
        return np.column_stack([tfidf.decision_function(T), svc.decision_function(E)])

    def fit(self, examples: Sequence[Example]) -> "EmbeddingEnsemble":
        from sklearn.model_selection import StratifiedKFold

        T = np.asarray([e.text for e in examples], dtype=object)
        y = np.array([e.label for e in examples], dtype=int)
        if (y < 0).any():
            raise ValueError("cannot fit on unlabelled examples")
        E = self._embed(T)
        Z = np.zeros((len(y), 2))
        folds = StratifiedKFold(self.params["inner_folds"], shuffle=True, random_state=self.params["seed"])
        for tr, te in folds.split(T, y):
            tfidf, svc = self._members()
            Z[te] = self._logits(tfidf.fit(T[tr], y[tr]), svc.fit(E[tr], y[tr]), T[te], E[te])
        self.scale = Z.std(0) + 1e-9  # each member's out-of-fold logit spread
        tfidf, svc = self._members()
        self.tfidf, self.svc = tfidf.fit(T, y), svc.fit(E, y)
        return self

    def raw_proba(self, examples: Sequence[Example]) -> np.ndarray:
        if not len(examples):
            return np.zeros(0)
        T = np.asarray([e.text for e in examples], dtype=object)
        z = (self._logits(self.tfidf, self.svc, T, self._embed(T)) / self.scale).mean(1)
        return 1.0 / (1.0 + np.exp(-z))

    def _save_model(self, path: Path) -> None:
        with (path / "model.pkl").open("wb") as fh:
            pickle.dump({"tfidf": self.tfidf, "svc": self.svc, "scale": self.scale}, fh)

    def _load_model(self, path: Path) -> None:
        with (path / "model.pkl").open("rb") as fh:
            d = pickle.load(fh)
        self.tfidf, self.svc, self.scale = d["tfidf"], d["svc"], d["scale"]
