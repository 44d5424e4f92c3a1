"""The hand-annotated gold set (data/gold): scoring only, never training."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLD_DIR = ROOT / "data" / "gold"
LETTERS = ROOT / "data" / "raw" / "dwc_letters" / "text"


def gold_files(gold: list[str | Path] | None = None) -> list[Path]:
    if gold:
        return [Path(g) for g in gold]
    merged = GOLD_DIR / "entities.jsonl"
    return [merged] if merged.exists() else sorted(GOLD_DIR.glob("annotations_part*.jsonl"))


def load_gold(gold: list[str | Path] | None = None) -> dict[str, list[dict]]:
    """case_number -> its gold spans ({start, end, label, text}, char offsets into the .txt)."""
    out: dict[str, list[dict]] = {}
    for f in gold_files(gold):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    out[rec["case_number"]] = rec["spans"]
    return out


def gold_cases(gold: list[str | Path] | None = None) -> set[str]:
    return set(load_gold(gold))


def letter_text(case: str) -> str:
    return (LETTERS / f"{case}.txt").read_text(encoding="utf-8")
