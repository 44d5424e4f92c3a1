"""Read input files (PDF, text, DMHC CSV, folders of them) into `Letter` records or errors.

Every input yields exactly one outcome per record: a `Letter` or a `ParseError`.
Nothing raises out of `read_records`, so one bad file never stops a batch.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Iterator

from . import dmhc
from .letters import parse_letter
from .schema import Letter, LetterError, ParseError

LETTER_SUFFIXES = {".pdf", ".txt"}
TABLE_SUFFIXES = {".csv"}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the letters and CSVs inside folders (sorted, recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*")
                              if f.is_file() and f.suffix.lower() in LETTER_SUFFIXES | TABLE_SUFFIXES))
        else:
            out.append(p)
    return out


def pdf_text(data: bytes, source: str) -> str:
    """Text of a PDF, page by page joined with a newline (as the shipped .txt files were made)."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LetterError("encrypted-pdf", "the PDF is protected by a password")
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except FileNotDecryptedError as e:
        raise LetterError("encrypted-pdf", f"the PDF is protected by a password ({e})") from e
    except LetterError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise LetterError("corrupt-pdf", f"the PDF cannot be read: {e}") from e
    except Exception as e:  # pypdf raises many types on damaged files
        raise LetterError("corrupt-pdf", f"the PDF cannot be read: {type(e).__name__}: {e}") from e
    if not text.strip():
        raise LetterError("no-text-layer",
                          "the PDF has no text layer (image-only scan?); run OCR first")
    return text


def read_text(path: Path) -> str:
    """The text of a letter file (.pdf or .txt); raises LetterError on unreadable input."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LetterError("unreadable-file", f"cannot read the file: {e.strerror or e}") from e
    if not data.strip():
        raise LetterError("empty-file", "the file is empty")
    if path.suffix.lower() == ".pdf" or data[:5] == b"%PDF-":
        return pdf_text(data, str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_letter(path: Path) -> Letter:
    """Parse one letter file; raises LetterError."""
    return parse_letter(read_text(path), str(path))


def read_records(paths: Iterable[str | Path]) -> Iterator[Letter | ParseError]:
    """Yield one Letter or ParseError per record in the given files and folders."""
    for path in expand_paths(paths):
        if path.suffix.lower() in TABLE_SUFFIXES:
            yield from dmhc.read_csv(path)
            continue
        try:
            yield read_letter(path)
        except LetterError as e:
            yield ParseError(str(path), e.code, e.message)
        except Exception as e:  # a parser bug must not stop the batch either
            yield ParseError(str(path), "internal-error", f"{type(e).__name__}: {e}")
