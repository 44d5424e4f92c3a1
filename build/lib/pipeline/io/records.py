"""Writing record streams: JSONL files that are never left half-written."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator


class AtomicJsonl:
    """Write JSON lines to ``path.tmp`` and rename onto ``path`` only on success."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.count = 0
        self._fh = None

    def __enter__(self) -> "AtomicJsonl":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.tmp.open("w", encoding="utf-8")
        return self

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    with AtomicJsonl(path) as out:
        for r in records:
            out.write(r)
    return out.count
