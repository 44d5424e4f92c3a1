"""The facets of a disputed item that tables, features and reports group by, defined once.

- treatment category: the first category of ``vocab/treatment_categories.json`` with a keyword
  at the start of a word of the item's TREATMENT mention(s); a mention that names a drug of the drug dictionary
  (``drug-named-entity-recognition``) and no keyword is ``medication``; else ``other``;
- body region of a diagnosis: the first region of ``vocab/body_regions.json`` with a word of
  the mention (spine levels such as L4-5 by pattern), else ``other``;
- reviewer specialty: the first board certification the letter lists;
- guideline sources: MTUS / ACOEM / ODG / other cited in a guideline line
  (`pipeline.nlp.citations.sources`), ``none cited`` when it cites nothing.

Unknown stays ``other``: a facet is never guessed beyond its vocabulary.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Iterable

from .. import project
from ..nlp.citations import NONE_CITED, sources as guideline_sources  # noqa: F401  (a facet)

OTHER = "other"
MEDICATION = "medication"
UNKNOWN_SPECIALTY = "unknown"


def _vocab(name: str) -> dict:
    return json.loads(project.package_file("extract", "vocab", name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def treatment_table() -> list[tuple[str, re.Pattern]]:
    """(category, one pattern of its keywords): a keyword starts a word (not after a letter),
    a keyword written ``*x`` may start inside one."""
    out = []
    for name, words in _vocab("treatment_categories.json").items():
        if name.startswith("_"):
            continue
        alts = [re.escape(w[1:]) if w.startswith("*") else r"(?<![a-z])" + re.escape(w) for w in words]
        out.append((name, re.compile("|".join(alts))))
    return out


@lru_cache(maxsize=1)
def region_table() -> list[tuple[str, re.Pattern]]:
    data = _vocab("body_regions.json")
    levels = data.get("_levels", {})
    out = []
    for region, words in data.items():
        if region.startswith("_"):
            continue
        alts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
        if region in levels:
            alts.append(levels[region])
        out.append((region, re.compile(r"\b(?:" + "|".join(alts) + r")\b", re.I)))
    return out


@lru_cache(maxsize=4096)
def _names_a_drug(text: str) -> bool:
    from drug_named_entity_recognition import find_drugs

    return bool(find_drugs(re.findall(r"[A-Za-z][A-Za-z\-]+", text), is_ignore_case=True))


def treatment_category(mentions: Iterable[str] | str | None) -> str:
    """The category of a treatment named by ``mentions`` (see the module doc)."""
    texts = [mentions] if isinstance(mentions, str) else [m for m in (mentions or []) if m]
    joined = " ".join(f" {t.lower()} " for t in texts)
    for name, rx in treatment_table():
        if rx.search(joined):
            return name
    if any(_names_a_drug(t) for t in texts):
        return MEDICATION
    return OTHER


def body_region(diagnosis: str | None) -> str:
    """The body region of one diagnosis mention (see the module doc)."""
    for region, rx in region_table():
        if diagnosis and rx.search(diagnosis):
            return region
    return OTHER


def specialty_family(specialty: str | None) -> str:
    """The reviewer's first listed specialty, lower-cased (``unknown`` when absent)."""
    s = (specialty or "").split(",")[0].strip().lower()
    return s or UNKNOWN_SPECIALTY
