"""Model inputs for `imr predict` that are not letters: CSV/JSONL rows of (id, text).

The streaming engine (``pipeline.batch``) reads such files with ``read_rows`` and, for a
``prior`` model, passes each text through ``prior_text_row`` (the leakage guard)."""
from __future__ import annotations

import csv
from pathlib import Path

from ..records import read_jsonl


def _is_row_file(path: Path) -> bool:
    if path.suffix.lower() == ".jsonl":
        return True
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        return "text" in {h.strip().lower() for h in header}
    return False


def read_rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".jsonl":
        rows = list(read_jsonl(path))
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    return [{"id": str(r.get("id", n)), "text": r.get("text") or ""} for n, r in enumerate(rows)]


def prior_text_row(text: str) -> str:
    from ..examples import assert_no_leak, mask_verdicts

    return assert_no_leak(mask_verdicts(text))
