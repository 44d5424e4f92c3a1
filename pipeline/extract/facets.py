"""The facets of a disputed item that tables, features and reports group by, defined once.

- treatment type: the first type in ``vocab/treatment_types.json`` with a keyword in the
  item's text (lower-case substring), else ``other``;
- reviewer specialty: the first board certification the letter lists;
- guideline sources: MTUS / ACOEM / ODG / other cited in a guideline line
  (`pipeline.nlp.citations.sources`), ``none cited`` when it cites nothing.
"""
from __future__ import annotations

import json
from functools import lru_cache

from .. import project
from ..nlp.citations import NONE_CITED, sources as guideline_sources  # noqa: F401  (a facet)

OTHER = "other"
UNKNOWN_SPECIALTY = "unknown"


@lru_cache(maxsize=1)
def treatment_table() -> list[tuple[str, list[str]]]:
    data = json.loads(project.package_file("extract", "vocab", "treatment_types.json").read_text())
    return [(k, v) for k, v in data.items() if not k.startswith("_")]


def treatment_type(item: str | None) -> str:
    """The item's treatment type by keyword (see the module doc)."""
    t = f" {(item or '').lower()} "
    for name, words in treatment_table():
        if any(w in t for w in words):
            return name
    return OTHER


def specialty_family(specialty: str | None) -> str:
    """The reviewer's first listed specialty, lower-cased (``unknown`` when absent)."""
    s = (specialty or "").split(",")[0].strip().lower()
    return s or UNKNOWN_SPECIALTY
