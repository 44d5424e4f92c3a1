"""Guideline citations: a guideline line or mention to {source, chapter, page, section, text}.

``normalize("Decision based on MTUS Low Back Complaints 2004, Section(s): Special Studies.")``
gives ``[{"source": "MTUS", "chapter": "Low Back Complaints 2004", "page": None,
"section": "Special Studies", ...}]``. Sources: MTUS, ACOEM, ODG, other. A line that
cites nothing ("did not cite any medical evidence") gives ``[]``.

This is the one definition of a guideline's source and chapter: the tagger's
``imr_guidelines`` component, the item rows, the classifiers' features and the reports
all use `normalize` and `sources`. Plain Python (no spaCy), so it is cheap to import.
"""
from __future__ import annotations

import re
from typing import Any, Optional

SOURCES = ("MTUS", "ACOEM", "ODG", "other")
NONE_CITED = "none cited"
_WS = re.compile(r"\s+")
_BASED = re.compile(r"(?:(?:The (?:Claims Administrator|Expert Reviewer) based (?:their|its|his|her) "
                    r"decision on recommendation\(s\) outside of the MTUS Guidelines\.\s*)?"
                    r"Decision based on\s+)", re.I)
_NONE = re.compile(r"did not cite any (?:medical )?evidence|^\s*(?:none|n/?a)\.?\s*$", re.I)
# "..., Section(s): Summary, and Chronic Pain Medical Treatment 2016, Section(s): ..."
_NEXT_CHAPTER = re.compile(r"(?<!Wrist)(?<!Wrist,),?\s+and\s+(?=[A-Z][A-Za-z,&\- ]{3,80}?\b(?:19|20)\d\d\b)")
_PAGE = re.compile(r"\b(?:Page\(s\)|pages?|pgs?\.?|pp?\.)\s*:?\s*(\d+(?:\s*[-–]\s*\d+)?)", re.I)
_SECTION = re.compile(r"Section\(s\)\s*:\s*(.+?)\s*(?:[.;]\s*$|$)", re.I | re.S)
_ODG = re.compile(r"\bODG\b|Official Disability Guidelines?", re.I)
_ACOEM = re.compile(r"\bACOEM\b|American College of Occupational", re.I)
_MTUS = re.compile(r"\bMTUS\b|Medical Treatment Utilization Schedule", re.I)
_NON_MTUS = re.compile(r"Non-MTUS(?: Citation)?\s*", re.I)


def _clean(s: Optional[str]) -> Optional[str]:
    if s is None:
        return None
    s = _WS.sub(" ", s).strip(" ,.;:-–")
    while s.endswith(")") and s.count(")") > s.count("("):
        s = s[:-1].rstrip(" ,.;:-–")
    while s.startswith("(") and s.count("(") > s.count(")"):
        s = s[1:].lstrip(" ,.;:-–")
    return s or None


def source_of(text: str) -> str:
    """MTUS / ACOEM / ODG / other for one citation (Non-MTUS citations by their content)."""
    non_mtus = bool(_NON_MTUS.search(text))
    body = _NON_MTUS.sub("", text)
    if not non_mtus and _MTUS.search(body):
        return "MTUS"
    if _ODG.search(body):
        return "ODG"
    if _ACOEM.search(body):
        return "ACOEM"
    if _MTUS.search(body):
        return "MTUS"
    return "other"


def _chapter(text: str, source: str) -> Optional[str]:
    t = _NON_MTUS.sub("", text)
    t = re.split(r",?\s*Section\(s\)\s*:", t, flags=re.I)[0]
    t = re.sub(r"\(updated[^)]*\)|\bupdated \d[\d/]*", "", t, flags=re.I)
    t = _PAGE.sub("", t)
    if source == "MTUS":
        m = re.search(r"(?:CA\s+)?MTUS(?:\s+Guidelines?)?(?:\s+in)?\s*(.*)", t, re.I | re.S)
        t = m.group(1) if m else t
    elif source == "ODG":
        m = re.search(r"(?:Official Disability Guidelines?\s*(?:\(ODG\))?|ODG(?:\s+guidelines?)?)"
                      r"\s*(.*)", t, re.I | re.S)
        t = m.group(1) if m else t
    elif source == "ACOEM":
        m = re.search(r"ACOEM(?:\s+(?:Occupational Medicine Practice\s+)?Guidelines?)?\s*(.*)", t,
                      re.I | re.S)
        t = m.group(1) if m else t
    return _clean(t)


def _split(text: str) -> list[str]:
    parts = [p for p in _BASED.split(text) if p and p.strip()]
    out: list[str] = []
    for p in parts:
        if _MTUS.search(p) and not _NON_MTUS.search(p):
            first, *more = [q for q in _NEXT_CHAPTER.split(p) if q.strip()]
            out.append(first)
            out.extend("MTUS " + q for q in more)  # "MTUS A 2004, and B 2016": both MTUS
        else:
            out.append(p)
    return out


def normalize(text: Optional[str]) -> list[dict[str, Any]]:
    """Normalize a guideline line (or one GUIDELINE mention) to a list of citations."""
    if not text or _NONE.search(text):
        return []
    out = []
    for part in _split(_WS.sub(" ", text).strip()):
        source = source_of(part)
        page = _PAGE.search(part)
        section = _SECTION.search(part)
        out.append({"source": source, "chapter": _chapter(part, source),
                    "page": page.group(1).replace(" ", "") if page else None,
                    "section": _clean(section.group(1)) if section else None,
                    "text": _clean(part)})
    return out




def sources(line: Optional[str]) -> list[str]:
    """The guideline sources a line cites (MTUS / ACOEM / ODG / other), each once, sorted;
    ``["none cited"]`` when it cites nothing."""
    return sorted({c["source"] for c in normalize(line)}) or [NONE_CITED]
