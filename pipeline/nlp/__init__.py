"""spaCy pipeline for IMR letters: sections, sentences, entities, negation, guidelines.

The components are registered spaCy factories (``imr_sections``, ``imr_sentences``,
``imr_entity_rules``, ``imr_negation``, ``imr_span_refiner``, ``imr_guidelines``; the fast
tagger's ``imr_token_features``, ``imr_entity_merge`` and ``imr.FeatureHashEmbed.v1``), found
by ``spacy.load`` through this package's entry points; `build` assembles them from
``pipeline.cfg`` (``configs/tagger_fast.cfg`` for the fast tagger). Rules are data files in
``rules/``. `citations` (guideline normalization) is plain Python, importable without spaCy.
"""
