"""The hand-annotated sets: gold (data/gold: scoring only, never training, never rule work)
and development (data/dev: rule work, error analysis and NER training)."""
from __future__ import annotations

import json
from pathlib import Path

from .. import project
from ..io.sources import letter_text as decode_letter


def gold_dir() -> Path:
    return project.data_dir() / "gold"


def dev_dir() -> Path:
    return project.data_dir() / "dev"


def letters_dir() -> Path:
    return project.data_dir() / "raw" / "dwc_letters" / "text"


def texts_path() -> Path:
    """The hand-annotated health-plan texts (data/annotations/health_plan/README.md)."""
    return project.data_dir() / "annotations" / "health_plan" / "annotations.jsonl"


def load_texts(split: str | None = None, path: str | Path | None = None) -> list[dict]:
    """The annotated health-plan texts ({id, text, spans, split, ...}) of one split (train, dev,
    or test: the frozen part, scored only), or all of them."""
    items = []
    with Path(path or texts_path()).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                if split is None or rec["split"] == split:
                    items.append(rec)
    return items


def sets() -> dict[str, Path]:
    return {"gold": gold_dir(), "dev": dev_dir()}


def gold_files(gold: list[str | Path] | None = None) -> list[Path]:
    """The annotation files: ``gold`` paths (a folder: its annotations_part*.jsonl), else data/gold."""
    if not gold:
        gold = [gold_dir()]
    out: list[Path] = []
    for g in map(Path, gold):
        if g.is_dir():
            merged = g / "entities.jsonl"
            out += [merged] if merged.exists() else sorted(g.glob("annotations_part*.jsonl"))
        else:
            out.append(g)
    return out


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


def dev_spans() -> dict[str, list[dict]]:
    """The development set (data/dev): case_number -> hand-annotated spans ({} if absent)."""
    d = dev_dir()
    return load_gold([d]) if d.is_dir() and any(d.glob("annotations_part*.jsonl")) else {}


def letter_text(case: str) -> str:
    """A shipped letter's text as every command reads it (`pipeline.io.sources.letter_text`)."""
    return decode_letter((letters_dir() / f"{case}.txt").read_bytes())
