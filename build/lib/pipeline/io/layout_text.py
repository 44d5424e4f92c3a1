"""Text helpers for PDF-layout letters: dates, wrapped lines, paragraphs, header fields, sections."""
from __future__ import annotations

import datetime as dt
import re

DATE = r"(\d{1,2}/\d{1,2}/\d{2,4})"
_WORD = re.compile(r"[A-Za-z]+")


def parse_date(value: str | None) -> dt.date | None:
    """MM/DD/YYYY (or MM/DD/YY) to a date; None when absent or impossible."""
    if not value:
        return None
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", value.strip())
    if not m:
        return None
    month, day, year = (int(g) for g in m.groups())
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def join_lines(lines: list[str], vocabulary: set[str]) -> str:
    """Join PDF layout lines into one string, undoing line-wrap hyphenation.

    "electro-" + "myography" becomes "electromyography" when the letter spells the
    word unhyphenated elsewhere (``vocabulary``); otherwise the hyphen is kept
    ("10-30-" + "2016" gives "10-30-2016").
    """
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalnum():
            left = _WORD.findall(out[-40:])
            right = _WORD.match(line)
            if left and right and out[-2].isalpha() and line[0].islower() \
                    and (left[-1] + right.group()).lower() in vocabulary:
                out = out[:-1] + line
            else:
                out += line
        else:
            out = f"{out} {line}" if out else line
    return re.sub(r"[ \t]+", " ", out).strip()


def paragraphs(text: str) -> list[list[str]]:
    """Split text into paragraphs of lines.

    pypdf output separates paragraphs with a line holding only spaces, while an
    empty line is a page join; when a text has no space-only lines (another
    extractor), empty lines separate paragraphs instead.
    """
    lines = text.split("\n")
    spaced = sum(1 for ln in lines if ln and not ln.strip()) >= 2
    paras: list[list[str]] = []
    current: list[str] = []
    for ln in lines:
        is_break = (not ln.strip()) and (bool(ln) if spaced else True)
        if is_break:
            if current:
                paras.append(current)
                current = []
        elif ln.strip():
            current.append(ln)
    if current:
        paras.append(current)
    return paras


def vocabulary_of(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}




def field(pattern: str, text: str) -> str | None:
    """Group 1 of ``pattern`` in ``text`` (case-insensitive), whitespace collapsed; None if absent."""
    m = re.search(pattern, text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", m.group(1)).strip() if m else None


DATE_FIELDS = {"date_assigned", "date_of_injury", "decision_date", "ur_denial_date",
               "application_received"}


def header_fields(text: str, fields: dict[str, str]) -> dict:
    """Letter keyword arguments for the header ``fields`` found in ``text`` (dates parsed)."""
    out: dict = {}
    for name, pattern in fields.items():
        value = field(pattern, text)
        out[name] = parse_date(value) if name in DATE_FIELDS else value
    return out


def section(text: str, start: str, ends: list[str]) -> str | None:
    """The text after the heading ``start`` up to the first of ``ends`` (None without ``start``)."""
    m = re.search(re.escape(start), text, re.I)
    if not m:
        return None
    rest = text[m.end():]
    cut = len(rest)
    for end in ends:
        e = re.search(re.escape(end), rest, re.I)
        if e:
            cut = min(cut, e.start())
    return rest[:cut]


def flat(text: str | None, vocab: set[str]) -> str | None:
    """Paragraphs of ``text`` joined line by line (`join_lines`), one per output line."""
    if text is None:
        return None
    out = "\n".join(join_lines(p, vocab) for p in paragraphs(text))
    return out.strip() or None


