"""Bytes to text, once, for every command: encodings, byte-order marks, line endings, limits.

Every later stage (the letter parser, the tagger, the classifiers) sees text as `decode`
returns it, so a letter gives the same records whatever its encoding or line endings:

- UTF-8 (with or without a BOM), UTF-16 and UTF-32 with a BOM; other bytes are read as
  Latin-1 (every byte is a character, nothing is lost);
- CRLF and lone CR line endings become LF;
- a letter longer than `MAX_LETTER_CHARS` is an error record, not a letter: real letters
  are under 30,000 characters, and spaCy refuses texts over 1,000,000.
"""
from __future__ import annotations

import codecs

from .schema import LetterError

MAX_LETTER_CHARS = 200_000  # one letter (or one text row) after decoding
MAX_FILE_BYTES = 256 * 2**20  # one input file of letters (not a table): read whole into memory

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes) -> str:
    """The text of ``data`` with LF line endings (see the module doc)."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return normalize_newlines(data.decode(enc))
            except UnicodeDecodeError:
                break
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return normalize_newlines(text)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def check_length(text: str, what: str = "the letter") -> str:
    """``text`` itself, or `LetterError` ``too-long`` naming the limit."""
    if len(text) > MAX_LETTER_CHARS:
        raise LetterError("too-long", f"{what} has {len(text):,} characters; the limit is "
                                      f"{MAX_LETTER_CHARS:,} (real IMR letters have under 30,000)")
    return text
