"""The one input layer of every command: paths to records, one outcome per record, never raising.

`discover` turns the paths a user typed into files: folders are walked (sorted, recursive,
symbolic links followed once), every file is listed once whatever its spelling (resolved
path), and a path that cannot be read (missing, broken or looping link, no permission) is
an error record. `read_file` turns one file into records by its content, not its name:

- a PDF (``%PDF-``): its text layer, then letters as for a text file;
- a ``.csv``: a DMHC IMR export (`pipeline.io.dmhc`, one letter per row) or an ``id,text``
  table (`pipeline.io.rows`), by its header;
- a ``.jsonl`` / ``.ndjson``: an ``id,text`` table;
- anything else: letter text (`pipeline.io.text.decode`), split into letters when several
  are concatenated (`pipeline.io.letters.split_letters`).

Every record is a `Letter`, a `TextRow` or a `ParseError`, keyed by a ``source`` unique in
the run (`pipeline.io.schema`). `read_records` = discover + read, for every command.
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, Union

from . import dmhc, rows
from .letters import parse_letter, split_letters
from .schema import Letter, LetterError, ParseError, TextRow
from .text import MAX_FILE_BYTES, check_length, decode, normalize_newlines

Record = Union[Letter, TextRow, ParseError]
LETTER_SUFFIXES = {".pdf", ".txt"}
TABLE_SUFFIXES = {".csv", ".jsonl", ".ndjson"}
FOLDER_SUFFIXES = LETTER_SUFFIXES | {".csv"}  # what a folder walk picks up (JSONL only when named)

logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are about files we report ourselves


def discover(paths: Iterable[str | Path]) -> Iterator[Path | ParseError]:
    """Each readable input file once (first spelling wins), in the order given, folders sorted;
    an error record for each path that is not there or cannot be walked."""
    seen: set[str] = set()

    def once(f: Path | ParseError) -> bool:
        key = f"error:{os.path.realpath(f.source)}" if isinstance(f, ParseError) else os.path.realpath(f)
        if key in seen:
            return False
        seen.add(key)
        return True

    for p in map(Path, paths):
        if p.is_dir():
            yield from filter(once, _walk(p, set()))
        elif p.is_file() or not p.exists() or p.is_symlink():
            f = p if p.is_file() else ParseError(str(p), *_unreadable(p))
            if once(f):
                yield f
        else:
            yield ParseError(str(p), *_unreadable(p))


def _unreadable(p: Path) -> tuple[str, str]:
    if p.is_symlink():
        return "unreadable-file", "a broken or looping symbolic link"
    if not p.exists():
        return "not-found", "no such file or folder"
    return "unreadable-file", "neither a file nor a folder"


def _walk(folder: Path, visiting: set[str]) -> Iterator[Path | ParseError]:
    """Input files under ``folder``, sorted; a linked folder is entered once (no loops)."""
    real = os.path.realpath(folder)
    if real in visiting:
        yield ParseError(str(folder), "unreadable-file", "a symbolic link loop (the folder links to itself)")
        return
    try:
        entries = sorted(folder.iterdir(), key=lambda e: e.name)
    except OSError as e:
        yield ParseError(str(folder), "unreadable-file", f"cannot list the folder: {e.strerror or e}")
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_dir():
            yield from _walk(e, visiting | {real})
        elif e.is_file():
            if e.suffix.lower() in FOLDER_SUFFIXES:
                yield e
        elif e.is_symlink() and e.suffix.lower() in FOLDER_SUFFIXES | {""}:
            yield ParseError(str(e), *_unreadable(e))


def pdf_text(data: bytes) -> str:
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
        raise LetterError("no-text-layer", "the PDF has no text layer (image-only scan?); run OCR first")
    return text


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES and path.suffix.lower() not in TABLE_SUFFIXES:
            raise LetterError("too-large", f"the file is {size / 2**20:,.0f} MiB; the limit for a file of "
                                           f"letters is {MAX_FILE_BYTES // 2**20} MiB (split it)")
        data = path.read_bytes()
    except OSError as e:
        raise LetterError("unreadable-file", f"cannot read the file: {e.strerror or e}") from e
    if not data.strip():
        raise LetterError("empty-file", "the file is empty")
    return data


def letter_text(data: bytes) -> str:
    """The text of a letter file's bytes, PDF or text (see `pipeline.io.text.decode`)."""
    return normalize_newlines(pdf_text(data)) if data[:5] == b"%PDF-" else decode(data)


def letters_of(text: str, source: str) -> Iterator[Letter | ParseError]:
    """The letters in one file's text: ``source`` for one, ``source#K`` for the K-th of several."""
    pieces = split_letters(text)
    for k, piece in enumerate(pieces, start=1):
        key = source if len(pieces) == 1 else f"{source}#{k}"
        try:
            yield parse_letter(check_length(piece), key)
        except LetterError as e:
            yield ParseError(key, e.code, e.message)
        except Exception as e:  # a parser bug must not stop the batch either
            yield ParseError(key, "internal-error", f"{type(e).__name__}: {e}")


def read_file(path: Path) -> Iterator[Record]:
    """The records of one file (see the module doc); never raises."""
    try:
        data = _read_bytes(path)
    except LetterError as e:
        yield ParseError(str(path), e.code, e.message)
        return
    suffix = path.suffix.lower()
    if data[:5] != b"%PDF-" and suffix in TABLE_SUFFIXES:
        text = decode(data)
        if suffix == ".csv":
            yield from (dmhc.read_csv(text, path) if dmhc.is_export(text) else rows.read_csv(text, path))
        else:
            yield from rows.read_jsonl(text, path)
        return
    try:
        text = letter_text(data)
    except LetterError as e:
        yield ParseError(str(path), e.code, e.message)
        return
    yield from letters_of(text, str(path))


def read_records(paths: Iterable[str | Path], skip: Iterable[str] = ()) -> Iterator[Record]:
    """Every record under ``paths``: discover, then read each file. ``skip``: sources already
    done (a resumed job); a one-letter file among them is not even read."""
    done = set(skip)
    for f in discover(paths):
        if isinstance(f, ParseError):
            if f.source not in done:
                yield f
            continue
        if str(f) in done:
            continue
        for rec in read_file(f):
            if rec.source not in done:
                yield rec


def read_letter(path: str | Path) -> Letter:
    """The one letter in a file; raises `LetterError` (tests and tools that need a letter)."""
    recs = list(read_file(Path(path)))
    if len(recs) != 1:
        raise LetterError("several-letters", f"{path} holds {len(recs)} records, not one letter")
    if isinstance(recs[0], ParseError):
        raise LetterError(recs[0].code, recs[0].message)
    if not isinstance(recs[0], Letter):
        raise LetterError("not-an-imr-letter", f"{path} is a table, not a letter")
    return recs[0]
