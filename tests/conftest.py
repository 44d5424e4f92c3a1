"""Shared fixtures: the real letters shipped in data/raw and their item labels."""
from __future__ import annotations

import collections
import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
LETTERS_TXT = RAW / "dwc_letters" / "text"
LETTERS_PDF = RAW / "dwc_letters" / "pdf"
SEED = RAW / "seed" / "000_ae38fb539e4bf748.txt"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def item_labels() -> dict[str, list[dict[str, str]]]:
    """case_number -> its labelled items in letter order (data/raw/dwc_letters/dwc_imr_items.csv)."""
    labels: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    with (RAW / "dwc_letters" / "dwc_imr_items.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            labels[row["case_number"]].append(row)
    for rows in labels.values():
        rows.sort(key=lambda r: int(r["item_index"]))
    return labels


@pytest.fixture(scope="session")
def letter_files() -> list[Path]:
    files = sorted(LETTERS_TXT.glob("*.txt"))
    assert len(files) >= 150, "the shipped letters are missing from data/raw"
    return files
