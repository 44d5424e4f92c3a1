"""Assemble the tagging pipeline from ``configs/nlp.cfg`` (spaCy's config system)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import spacy
from spacy.language import Language
from spacy.util import load_config, load_model_from_config

from . import sections  # noqa: F401  (factories)

ROOT = Path(__file__).resolve().parents[2]
NLP_CONFIG = ROOT / "configs" / "nlp.cfg"
NER_CONFIG = ROOT / "configs" / "ner.cfg"
DEFAULT_MODEL = ROOT / "models" / "tagger"


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
    """The saved tagger at ``model`` (default models/tagger); the rules pipeline if absent."""
    path = Path(model) if model else DEFAULT_MODEL
    if (path / "config.cfg").exists():
        return spacy.load(path)
    if model:
        raise FileNotFoundError(f"no spaCy pipeline at {path} (train one: imr train-tagger)")
    return build_nlp()
