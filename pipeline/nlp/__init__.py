"""spaCy pipeline for IMR letters: sections, sentences, entities, negation, guidelines.

Importing this package registers the factories (``imr_sections``, ``imr_sentences``,
``imr_entity_rules``, ``imr_negation``, ``imr_span_refiner``, ``imr_guidelines``) with
spaCy. The rules are data files in ``rules/``; ``configs/nlp.cfg`` assembles the pipeline
(``build.py``), ``configs/ner.cfg`` trains its NER and ``train.py`` the span refiner.
"""
from pathlib import Path

from . import entities, guidelines, negation, refiner, sections, sentences  # noqa: F401  (registration)

RULES_DIR = Path(__file__).parent / "rules"
