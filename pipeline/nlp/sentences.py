"""Rule-based sentence segmentation for PDF-extracted letters (replaces the parser).

- A single line break is a PDF line wrap, never a boundary by itself.
- A paragraph break (a space-only line; an empty line is a pypdf page join) and a section title are boundaries.
- ``.``, ``!``, ``?`` end a sentence when the next word starts like a sentence (capital,
  digit, quote), except after abbreviations (``Dr.``, ``pg.``, ``No.``, ``e.g.``) and after
  list numbers ("diagnoses: 1. lumbar strain 2. ..."), so list-like diagnosis sentences
  stay whole.
"""
from __future__ import annotations

import re

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc

ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "pg", "pp", "no", "vs", "e.g", "i.e", "etc", "approx",
                 "fig", "st", "jr", "sr", "ed", "vol", "p", "q", "b.i.d", "t.i.d", "q.i.d",
                 "inc", "co", "dept", "u.s", "ca", "cf", "al", "et"}
ENDERS = {".", "!", "?"}


_SPACED_LINE = re.compile(r"\n[ \t]+(?=\n)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _paragraph_break(ws: str, spaced: bool) -> bool:
    """pypdf marks paragraphs with a space-only line; a bare empty line is a page join
    (as ``pipeline.letters.paragraphs`` reads them). Other extractors: any blank line."""
    return bool((_SPACED_LINE if spaced else _BLANK_LINE).search(ws))


@Language.factory("imr_sentences")
class LetterSentencizer:
    """Set sentence starts from punctuation, paragraph breaks and section titles."""

    def __init__(self, nlp: Language, name: str):
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        if len(doc):
            doc.from_array([SENT_START], sentence_starts(doc)[:, None].astype("uint64"))
        return doc


def sentence_starts(doc: Doc) -> numpy.ndarray:
    """``imr_sentences``' SENT_START values for ``doc`` (1: starts a sentence, -1: does not),
    computed without setting them (the fast tagger's sentence context reads them in training,
    where boundaries on the doc would forbid gold entities that cross one)."""
    section_starts = {s[1] for s in (doc._.sections or [])}
    text = doc.text
    spaced = len(_SPACED_LINE.findall(text)) >= 2
    starts = numpy.zeros(len(doc), dtype="int32")
    prev_word = None  # index of the previous non-space token
    gap = ""  # whitespace between it and the current token
    for tok in doc:
        if tok.i == 0:
            starts[tok.i] = 1
            gap = tok.whitespace_
            if not tok.is_space:
                prev_word = tok.i
            continue
        if tok.is_space:
            starts[tok.i] = -1
            gap += tok.text + tok.whitespace_
            continue
        start = False
        if prev_word is None or _paragraph_break(gap, spaced) or tok.idx in section_starts:
            start = True
        elif "\n" in gap and _title_line(text, doc[prev_word]):
            start = True
        else:
            p = doc[prev_word]
            if p.text in ENDERS or (p.text in {'"', "”", ")"} and prev_word > 0
                                    and doc[prev_word - 1].text in ENDERS):
                start = _after_period(doc, prev_word, tok)
        starts[tok.i] = 1 if start else -1
        prev_word = tok.i
        gap = tok.whitespace_
    return starts


def _title_line(text: str, tok) -> bool:
    """The line ending at ``tok`` is an upper-case title or a "label:" line."""
    line_start = text.rfind("\n", 0, tok.idx) + 1
    line = text[line_start:tok.idx + len(tok.text)].strip()
    if line.endswith(":"):
        return True
    n = 0
    for c in line:  # stops at the first letter that is not upper case (most lines: early)
        if c.isalpha():
            if not c.isupper():
                return False
            n += 1
    return n >= 4


def _after_period(doc: Doc, end: int, nxt) -> bool:
    if not (nxt.is_title or nxt.is_upper or nxt.like_num or nxt.text[:1] in {'"', "“", "("}):
        return False
    if doc[end].text != ".":
        return True
    before = doc[end - 1] if end > 0 else None
    if before is None:
        return True
    if before.lower_.rstrip(".") in ABBREVIATIONS or (len(before.text) == 1 and before.is_alpha):
        return False
    # "1." / "2)" list numbers: the period belongs to the enumeration
    if before.like_num and len(before.text) <= 2 and (end < 2 or doc[end - 2].text in
                                                      {":", ";", ",", "(", "and"} or
                                                      doc[end - 2].is_space):
        return False
    return True
