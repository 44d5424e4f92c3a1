"""The rules pipeline from ``pipeline.cfg`` (spaCy's config system), or a saved tagger (fast or accurate)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import spacy
from spacy.language import Language
from spacy.util import load_config, load_model_from_config

from .. import project
from ..errors import ModelError
from . import entities, features, guidelines, negation, sections, sentences, transformer_ner  # noqa: F401  (factories)

NLP_CONFIG = project.package_file("nlp", "pipeline.cfg")


def default_model() -> Path:
    return project.models_dir() / "tagger"


def build_nlp(config: str | Path = NLP_CONFIG) -> Language:
    """The rules pipeline from ``config`` (nothing to train)."""
    cfg = load_config(config)
    nlp = load_model_from_config(cfg, auto_fill=True, validate=True)
    nlp.initialize()
    return nlp


def load_tagger(model: Optional[str | Path] = None) -> Language:
    """The saved tagger at ``model`` (default models/tagger); the rules pipeline when no
    model is named and the default is absent. Raises `ModelError` for a folder that is not
    a saved tagger."""
    path = Path(model) if model else default_model()
    if (path / "config.cfg").exists():
        try:
            return spacy.load(path)
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(f"{path} is not a loadable spaCy pipeline: {e}") from None
    if model:
        what = "is not a saved tagger (no config.cfg)" if path.exists() else "does not exist"
        raise ModelError(f"--model {path} {what}; train one with `imr train-tagger --model {path}`")
    return build_nlp()
