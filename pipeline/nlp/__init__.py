"""spaCy pipeline for IMR letters: sections, sentences, entities, negation, guidelines.

The components are registered spaCy factories (``imr_sections``, ``imr_sentences``,
``imr_entity_rules``, ``imr_negation``, ``imr_guidelines``, and the learned parts of the two
tagger configurations: ``imr_token_features``, ``imr_entity_merge`` and the
``imr.FeatureHashEmbed.v1`` architecture (fast, ``configs/tagger_fast.cfg``),
``imr_transformer_ner`` (accurate, ``pipeline_accurate.cfg``)), found by ``spacy.load``
through this package's entry points; `build` assembles the rules pipeline from
``pipeline.cfg``. Rules are data files in
``rules/``. `citations` (guideline normalization) is plain Python, importable without spaCy.
"""
