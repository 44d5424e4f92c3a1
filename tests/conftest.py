"""Shared fixtures: the real letters shipped in data/raw and their item labels, a folder of
good and bad inputs, a tiny real classifier, a throw-away MLflow store with real runs, and
the ``imr`` command run as a user runs it."""
from __future__ import annotations

import collections
import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
LETTERS_TXT = RAW / "dwc_letters" / "text"
LETTERS_PDF = RAW / "dwc_letters" / "pdf"
SEED = RAW / "seed" / "000_ae38fb539e4bf748.txt"
DMHC_SAMPLE = RAW / "dmhc_imr" / "dmhc_imr_sample20_2023_2026_with_findings.csv"
FIXTURES = Path(__file__).parent / "fixtures"
ENV = {**os.environ}

# The bad inputs of `mixed_folder` and the error code each one gets.
EXPECTED_ERRORS = {
    "empty.txt": "empty-file", "image_only.pdf": "no-text-layer", "corrupt.pdf": "corrupt-pdf",
    "password.pdf": "encrypted-pdf", "not_a_letter.txt": "not-an-imr-letter",
    "truncated.txt": "truncated",
}


def imr(*args: str, env: dict | None = None, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """The ``imr`` command in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**ENV, **(env or {})})


def letters_folder(d: Path, n: int) -> Path:
    """A folder holding copies of the first ``n`` shipped letters."""
    d.mkdir(parents=True, exist_ok=True)
    for f in sorted(LETTERS_TXT.glob("*.txt"))[:n]:
        shutil.copy(f, d / f.name)
    return d


def keyed(rows):
    """Output rows by (source, item index or id): each item once."""
    return {(r["source"], r["index"] if r["index"] is not None else r["id"]): r for r in rows}


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


def pdf_bytes(*, password: str | None = None, blank: bool = False) -> bytes:
    """A real letter's PDF, or a blank page, optionally password-protected."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    if blank:
        writer.add_blank_page(612, 792)
    else:
        writer.append(PdfReader(str(next(iter(sorted(LETTERS_PDF.glob("*.pdf")))))))
    if password:
        writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.fixture()
def mixed_folder(tmp_path):
    """Good letters next to every kind of bad input, one file each (`EXPECTED_ERRORS`); the
    seed's second decision is "Pending": a letter still, with that item undecided."""
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "good1.txt").write_text(SEED.read_text())
    (d / "good2.txt").write_text((LETTERS_TXT / "CM16-0230651.txt").read_text())
    (d / "good3.pdf").write_bytes(pdf_bytes())
    (d / "empty.txt").write_text("")
    (d / "image_only.pdf").write_bytes(pdf_bytes(blank=True))
    (d / "corrupt.pdf").write_bytes(pdf_bytes()[:700])
    (d / "password.pdf").write_bytes(pdf_bytes(password="s3cret"))
    (d / "not_a_letter.txt").write_text("Minutes of the board meeting.\nAll present.\n")
    seed = SEED.read_text()
    (d / "truncated.txt").write_text(seed[: seed.index("no plan for weaning")])
    (d / "pending.txt").write_text(seed.replace("home use: Overturned", "home use: Pending"))
    return d


def build_tiny_model(path: Path, setting: str = "prior", layers: int = 1) -> Path:
    """A real (untrained) MiniLM sequence classifier cut to ``layers`` layers, saved as the
    classifier saves its models: an MLflow pyfunc folder (`pipeline.classify.tracking.save_pyfunc`)."""
    import torch

    from pipeline.classify.tracking import save_pyfunc
    from pipeline.classify.transformer import TransformerClassifier
    from pipeline.encoders import MINILM, encoder_path

    torch.manual_seed(0)
    clf = TransformerClassifier(model={"encoder": MINILM, "num_threads": 1},
                                data={"max_length": 64, "head_tokens": 16})
    clf._init_model(encoder_path(MINILM))
    m = clf.model  # mean pooling (encoder + head) or the stock [CLS] classifier
    bert = m.encoder if hasattr(m, "head") else m.base_model
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    with torch.no_grad():  # a head that spreads the scores (a fresh one gives ~0.5 everywhere)
        (m.head if hasattr(m, "head") else m.classifier).weight.normal_(0, 0.5)
    clf.model.eval()
    clf.info = {"domain": "dwc", "setting": setting, "model": "tiny", "run": f"dwc-{setting}-tiny"}
    save_pyfunc(clf, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "dwc-prior-tiny")


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model):
    from pipeline.serve.scorers import load_scorer

    return load_scorer(str(tiny_model))


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A throw-away MLflow store with real runs of the classifier's tiny configs on real
    letters: (folder, run ids: dwc-prior tfidf, dwc-rationale tfidf, dwc-prior majority).
    ``MLFLOW_TRACKING_URI`` points at it for the session."""
    from .mlflow_runs import make_runs

    old = os.environ.get("MLFLOW_TRACKING_URI")
    d = tmp_path_factory.mktemp("mlflow")
    ids = make_runs(d)
    ENV["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"]
    yield d, ids
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        ENV.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = ENV["MLFLOW_TRACKING_URI"] = old
