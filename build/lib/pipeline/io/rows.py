"""Tables of free texts to score: ``id,text`` rows in CSV (any of , ; tab) or JSONL.

Each row is one record, keyed ``PATH:LINE`` (its first line in the file), so a repeated or
odd ``id`` never collides with another row. Column names are matched case-insensitively
(``ID,Text`` works). A row that cannot be used is an error record naming its line, and the
rest of the file is kept:

- ``bad-json`` / ``not-an-object``: a JSONL line that is not a JSON object;
- ``missing-text`` / ``empty-text``: no ``text``, or an empty one;
- ``missing-id``: an ``id`` column (or key) with an empty value in this row; a table with no
  ``id`` column at all numbers its rows by line instead;
- ``too-long``: a text over `pipeline.io.text.MAX_LETTER_CHARS`;
- ``bad-row``: a CSV row the csv module cannot read.
"""
from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from .schema import LetterError, ParseError, TextRow
from .text import check_length

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long cells are judged by length, not refused
DELIMITERS = ",;\t"


def column_key(name: str) -> str:
    """'Reference ID', 'ReferenceID' and 'referenceid' all give 'referenceid'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def sniff_delimiter(text: str) -> str:
    """The delimiter of a table's header line: the most frequent of , ; and tab."""
    first = text.split("\n", 1)[0]
    return max(DELIMITERS, key=first.count)


def header_keys(text: str) -> set[str]:
    """The `column_key` of each column of a CSV text's header."""
    first = text.split("\n", 1)[0]
    return {column_key(c) for c in next(csv.reader([first], delimiter=sniff_delimiter(text)), [])}


def table_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    """(first line, {column_key: value} or None, problem) for each data row of a CSV text."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        header = [column_key(c) for c in next(reader)]
    except (StopIteration, csv.Error):
        return
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield line, None, f"cannot read this CSV row: {e}"
            line = reader.line_num + 1
            continue
        if any(v.strip() for v in values):
            yield line, {k: v for k, v in zip(header, values) if k}, ""
        line = reader.line_num + 1


def _row(values: dict[str, Any], has_id: bool, source: str, line: int) -> TextRow | ParseError:
    text = values.get("text")
    if text is None:
        return ParseError(source, "missing-text", f"line {line} has no text")
    if not isinstance(text, str):
        return ParseError(source, "empty-text", f"line {line}: text is {type(text).__name__}, not a string")
    if not text.strip():
        return ParseError(source, "empty-text", f"line {line} has an empty text")
    rid = values.get("id")
    if has_id and (rid is None or not str(rid).strip()):
        return ParseError(source, "missing-id", f"line {line} has an empty id")
    try:
        check_length(text, f"the text of line {line}")
    except LetterError as e:
        return ParseError(source, e.code, e.message)
    return TextRow(source, str(rid).strip() if has_id else str(line), text)


def read_csv(text: str, path: Path) -> Iterator[TextRow | ParseError]:
    """The ``id,text`` rows of a CSV text (see the module doc)."""
    keys = header_keys(text)
    if "text" not in keys:
        yield ParseError(str(path), "unknown-csv", "not a DMHC IMR export (needs ReferenceID and Determination "
                                                   "columns) nor an id,text table (needs a text column); found "
                                                   f"columns: {', '.join(sorted(keys)) or 'none'}")
        return
    for line, values, problem in table_rows(text, path):
        source = f"{path}:{line}"
        yield ParseError(source, "bad-row", problem) if values is None else _row(values, "id" in keys, source, line)


def read_jsonl(text: str, path: Path) -> Iterator[TextRow | ParseError]:
    """The ``id,text`` rows of a JSONL text, one JSON object per line (see the module doc)."""
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        source = f"{path}:{line}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            yield ParseError(source, "bad-json", f"line {line} is not JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(obj, dict):
            yield ParseError(source, "not-an-object", f"line {line} is a JSON {type(obj).__name__}, not an object")
            continue
        values = {column_key(k): v for k, v in obj.items()}
        yield _row(values, "id" in values, source, line)
