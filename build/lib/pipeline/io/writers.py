"""Output files of every command: checked before any work, written whole or not at all.

`check_output` refuses, before anything is read or scored, an output that could not be
written (an existing folder, a path under a file, a folder without write permission).
`RowWriter` writes rows as JSONL, Parquet or CSV under a temporary name and renames it
onto the output only when the job is complete; `read_rows` reads any of them back.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import OutputError

FORMATS = ("jsonl", "parquet", "csv")


def format_of(out: Path, fmt: str | None) -> str:
    """``fmt``, else the output's extension, else jsonl."""
    if fmt:
        if fmt not in FORMATS:
            raise OutputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        return fmt
    ext = out.suffix.lower().lstrip(".")
    return ext if ext in FORMATS else "jsonl"


def default_errors_path(out: Path) -> Path:
    """OUT's errors file: OUT with ``.errors.jsonl`` in place of its format extension."""
    stem = out.name
    for ext in FORMATS:
        if stem.endswith("." + ext):
            stem = stem[: -len(ext) - 1]
            break
    return out.with_name(stem + ".errors.jsonl")


def check_output(*paths: Path, folder_ok: bool = False) -> None:
    """Raise `OutputError` unless each path can be written: not an existing folder (unless
    ``folder_ok``), its parent a folder (created if missing) that we may write in."""
    for p in paths:
        if p.is_dir() and not folder_ok:
            raise OutputError(f"{p} is a folder; give a file name for the output")
        parent = p.parent
        for up in [parent, *parent.parents]:
            if up.exists():
                if not up.is_dir():
                    raise OutputError(f"cannot write {p}: {up} is a file, not a folder")
                break
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the folder {parent}: {e.strerror or e}") from None
        if not os.access(parent, os.W_OK):
            raise OutputError(f"cannot write in {parent}: permission denied")


def fsync_write(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path`` through a temporary file, flushed to disk, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for ln in lines:
            fh.write(ln)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RowWriter:
    """Rows to OUT in one format, under a temporary name until `commit`.

    ``schema``: the Arrow schema of a Parquet output (flat rows); ``json_columns``: columns
    that hold lists or objects, written as JSON text in a CSV."""

    def __init__(self, out: Path, fmt: str, columns: Sequence[str] | None = None, schema=None,
                 json_columns: Sequence[str] = ()):
        self.out, self.fmt, self.columns = out, fmt, list(columns) if columns else None
        self.json_columns = set(json_columns)
        self.tmp = out.with_name(out.name + ".tmp")
        out.parent.mkdir(parents=True, exist_ok=True)
        self._pq = None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            if schema is None:
                raise OutputError(f"{out}: this command writes nested records; use a .jsonl output")
            self.schema = schema
            self._pq = pq.ParquetWriter(str(self.tmp), schema)
        else:
            self._fh = self.tmp.open("w", encoding="utf-8", newline="")
            if fmt == "csv":
                self._csv = csv.DictWriter(self._fh, fieldnames=self.columns)
                self._csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.fmt == "parquet":
            import pyarrow as pa

            self._pq.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        elif self.fmt == "csv":
            for r in rows:
                self._csv.writerow({k: json.dumps(v, ensure_ascii=False) if k in self.json_columns else v
                                    for k, v in r.items()})
        else:
            for r in rows:
                self._fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        if self._pq is not None:
            self._pq.close()
        else:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if self._pq is not None:
            self._pq.close()
        else:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)


def read_rows(path: str | Path, fmt: str | None = None, json_columns: Sequence[str] = (),
              float_columns: Sequence[str] = (), int_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a job's output back (any format, a Spark Parquet folder too). A CSV's cells are
    text: ``json_columns``, ``float_columns`` and ``int_columns`` say which to convert."""
    path = Path(path)
    fmt = fmt or ("parquet" if path.is_dir() else format_of(path, None))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(str(path)).to_pylist()
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for k, v in r.items():
                if v == "":
                    r[k] = None
                elif k in json_columns:
                    r[k] = json.loads(v)
                elif k in float_columns:
                    r[k] = float(v)
                elif k in int_columns:
                    r[k] = int(v)
            for k in json_columns:
                if r.get(k) is None:
                    r[k] = []
        return rows
    from .records import read_jsonl

    return list(read_jsonl(path))
