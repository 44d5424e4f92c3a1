"""Letter texts to `Letter` records: which MAXIMUS layout, one letter or several, parse.

`parse_letter` names the layout by its section headings and hands the text to that layout's
parser (`pipeline.io.layouts`). `split_letters` cuts a text holding several letters one
after another (a mail-merge export, files concatenated by a script) at each letter's own
start, so each becomes its own record instead of one letter swallowing the next.
"""
from __future__ import annotations

import re

from .layouts import PARSERS
from .schema import Letter, LetterError

# Where each layout's letter begins (a line of its own) and the heading every letter has once.
_STARTS = {
    "dwc-2016": (re.compile(r"^[ \t]*Case Number\s*:", re.M), "IMR ISSUES, DECISIONS AND RATIONALES"),
    "maximus-2013": (re.compile(r"^[ \t]*MAXIMUS FEDERAL SERVICES, INC\.?[ \t]*$", re.M),
                     "INDEPENDENT MEDICAL REVIEW"),
    "medical-professional-review": (re.compile(r"^[ \t]*MEDICAL PROFESSIONAL REVIEW[ \t]*$", re.M),
                                    "ISSUE AT DISPUTE"),
}


def detect_layout(text: str) -> str:
    """Name the MAXIMUS layout of ``text`` or raise ``LetterError('not-an-imr-letter')``."""
    up = text.upper()
    if "IMR ISSUES, DECISIONS AND RATIONALES" in up:
        return "dwc-2016"
    if "IMR DECISION(S) AND RATIONALE(S)" in up or (
            "MAXIMUS FEDERAL SERVICES, INC" in up and "INDEPENDENT MEDICAL REVIEW" in up
            and "HAS DETERMINED THE REQUEST FOR" in up):
        return "maximus-2013"
    if "MEDICAL PROFESSIONAL REVIEW" in up and "ISSUE AT DISPUTE" in up:
        return "medical-professional-review"
    raise LetterError("not-an-imr-letter",
                      "no MAXIMUS IMR section headings found (not an IMR determination letter)")


def split_letters(text: str) -> list[str]:
    """The letters in ``text``, in order: ``[text]`` for one letter (or none).

    A text is cut at each start line of its layout (for dwc-2016 the "Case Number:" line)
    that is followed, before the next start, by the heading every letter has once; the
    text before the first letter stays with it. Nothing is dropped or changed: the pieces
    joined give ``text`` back."""
    try:
        layout = detect_layout(text)
    except LetterError:
        return [text]
    start, heading = _STARTS[layout]
    marks = [m.start() for m in start.finditer(text)]
    if len(marks) < 2:
        return [text]
    ends = marks[1:] + [len(text)]
    cuts = [s for s, e in zip(marks, ends) if heading in text[s:e].upper()]
    if len(cuts) < 2:
        return [text]
    cuts[0] = 0
    return [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)])]


def parse_letter(text: str, source: str) -> Letter:
    """Parse one letter's text. Raises ``LetterError`` with a code on bad input."""
    if not text or not text.strip():
        raise LetterError("empty-text", "the file holds no text")
    layout = detect_layout(text)
    letter = PARSERS[layout](text, source)
    letter.layout = layout
    letter.text = text
    if not letter.items:
        raise LetterError("no-items", "the letter has no disputed item with a decision")
    return letter
