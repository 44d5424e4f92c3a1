"""Assemble the tagging pipeline from ``pipeline.cfg`` (spaCy's config system), or load a saved one."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import spacy
from spacy.language import Language
from spacy.util import load_config, load_model_from_config

from .. import project
from ..errors import ModelError
from . import (entities, features, guidelines, negation, refiner, sections, sentences,  # noqa: F401  (factories)
               transformer_ner)

NLP_CONFIG = project.package_file("nlp", "pipeline.cfg")


def ner_config() -> Path:
    """The NER training config (configs/ner.cfg of the project)."""
    return project.configs_dir() / "ner.cfg"


def default_model() -> Path:
    return project.models_dir() / "tagger"


def build_nlp(ner: Optional[str | Path | Language] = None, config: str | Path = NLP_CONFIG) -> Language:
    """The rules pipeline from ``config``; with ``ner`` (a trained pipeline or its path),
    its ``tok2vec`` and ``ner`` are sourced in before the entity rules."""
    cfg = load_config(config)
    nlp = load_model_from_config(cfg, auto_fill=True, validate=True)
    nlp.initialize()
    if ner is not None:
        src = ner if isinstance(ner, Language) else spacy.load(ner)
        for name in ("tok2vec", "ner"):
            if name in src.pipe_names:
                nlp.add_pipe(name, source=src, before="imr_entity_rules")
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
