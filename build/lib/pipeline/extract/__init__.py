"""Item records: what users read and what models and reports count, one row per disputed item.

`facets` holds the one definition of each item facet (treatment type, reviewer specialty,
guideline source); their vocabularies are data files in ``vocab/``.
"""
