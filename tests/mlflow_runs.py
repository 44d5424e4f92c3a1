"""Real training runs in a throw-away MLflow store, for the registry and dashboard tests
(the ``mlflow_store`` fixture of conftest.py).

Runs the classifier's own `pipeline.classify.tracking.train` (tiny configs) on examples
built from a few real letters, so each run is what `imr train` logs: metrics, the per-item
``oof_predictions.jsonl``, a pyfunc model registered as ``imr-dwc-<setting>``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .conftest import LETTERS_TXT, ROOT

EXPERIMENT = "imr-outcome"


def parsed_letters(n: int | None = None):
    from pipeline.io.schema import ParseError
    from pipeline.io.sources import read_records

    files = sorted(LETTERS_TXT.glob("*.txt"))
    if n:
        files = files[:: max(1, len(files) // n)][:n]
    return [r for r in read_records(files) if not isinstance(r, ParseError)]


def write_examples(out: Path, n_letters: int | None) -> dict[str, Path]:
    from pipeline.classify.examples import assign_folds, letter_examples, write_examples as _write

    letters = parsed_letters(n_letters)
    paths = {}
    for setting in ("prior", "rationale"):
        exs = assign_folds(letter_examples(letters, setting), k=5, seed=13)
        paths[setting] = out / f"dwc-{setting}.jsonl"
        _write(paths[setting], exs)
    return paths


def make_runs(store: Path, n_letters: int | None = 40,
              configs: Sequence[tuple[str, str]] = (("tiny_tfidf_lr", "prior"), ("tiny_tfidf_lr", "rationale"),
                                                     ("majority", "prior")),
              ) -> list[str]:
    """Train and log one run per (config, setting) into a sqlite store under ``store``."""
    import mlflow

    from pipeline.classify.tracking import train

    store.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    paths = write_examples(store / "examples", n_letters)
    ids = []
    for config, setting in configs:
        r = train(ROOT / "configs" / f"{config}.yaml", setting, examples_path=paths[setting],
                  runs_dir=store / "runs", log=lambda s: None)
        ids.append(r["mlflow_run_id"])
    return ids
