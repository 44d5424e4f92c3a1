"""Outcome classifiers with one interface: ``fit`` / ``predict_proba`` / ``save`` / ``load``.

``kind`` (in configs/<model>.yaml) picks the class: ``majority``, ``tfidf_lr``, ``structured``
(scikit-learn baselines, `baselines.py`), ``embed_ensemble`` (TF-IDF + sentence embeddings,
`ensemble.py`) or ``transformer`` (`transformer.py`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Calibrator, Classifier, load_meta
from .config import ConfigError


def classifier_class(kind: str) -> type[Classifier]:
    if kind == "transformer":
        from .transformer import TransformerClassifier
        return TransformerClassifier
    if kind == "embed_ensemble":
        from .ensemble import EmbeddingEnsemble
        return EmbeddingEnsemble
    from . import baselines
    try:
        return {"majority": baselines.MajorityClassifier, "tfidf_lr": baselines.TfidfLR,
                "structured": baselines.StructuredLR}[kind]
    except KeyError:
        raise ConfigError(f"unknown classifier kind {kind!r} (known: majority, tfidf_lr, structured, "
                          "transformer)") from None


def build(kind: str, params: dict[str, Any] | None = None) -> Classifier:
    """A new classifier of ``kind``; a parameter it does not take is a `ConfigError`."""
    cls = classifier_class(kind)
    try:
        return cls(**(params or {}))
    except TypeError as e:
        raise ConfigError(f"params of a {kind} model: {e}") from None


def load(path: str | Path) -> Classifier:
    """Load any saved classifier (the folder holds meta.json naming its kind)."""
    meta = load_meta(path)
    return classifier_class(meta["kind"]).load(path)


__all__ = ["Calibrator", "Classifier", "build", "classifier_class", "load"]
