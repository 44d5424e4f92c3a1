"""``imr predict``: the item rows of any number of inputs, scored, as one resumable job.

Each batch of records (`pipeline.io.jobs`) becomes model inputs for the scorer's setting
(`pipeline.classify.examples`: the leakage guard checks every ``prior`` input), is scored
in one call, and comes out as item rows (`pipeline.extract.records`) plus the prediction
columns. A record whose inputs cannot be built, or that breaks the model, becomes an error
record (stage ``inputs`` or ``classify``); the others in its batch are kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..classify.examples import Example, LeakageError, letter_examples, prior_text_plain
from ..extract.records import (CITATION_FIELDS, ITEM_FIELDS, PREDICTION_FIELDS, arrow_schema, columns,
                               letter_rows, text_row)
from ..io.jobs import Job, Summary, run_job
from ..io.schema import Letter, ParseError, TextRow
from .scorers import Scorer, describe

# The prediction right after the item's identity, then the rest of the item row.
FIELDS = (*ITEM_FIELDS[:5], *PREDICTION_FIELDS, *ITEM_FIELDS[5:])
COLUMNS = tuple(columns(FIELDS))


def model_inputs(rec: Letter | TextRow, setting: str) -> list[Example]:
    """One `Example` per item of a letter (one for a text row); raises `LeakageError` on a
    prior input that would leak the decision."""
    if isinstance(rec, TextRow):
        text = prior_text_plain(rec.text) if setting == "prior" else rec.text
        return [Example(id=rec.id, group=rec.id, domain="dwc", setting=setting, text=text)]
    return letter_examples([rec], setting)


def item_rows(rec: Letter | TextRow, probs: Sequence[float], info: dict[str, Any]) -> list[dict[str, Any]]:
    """The output rows of one record: its item rows with the prediction columns."""
    base = [text_row(rec)] if isinstance(rec, TextRow) else letter_rows(rec)
    threshold = float(info["threshold"])
    out = []
    for r, p in zip(base, probs):
        r.update({"model": info["model"], "setting": info["setting"], "p_overturned": float(p),
                  "threshold": threshold, "prediction": "Overturned" if float(p) >= threshold else "Upheld"})
        out.append({k: r[k] for k in COLUMNS})
    return out


def score_records(records: list[Letter | TextRow], scorer: Scorer
                  ) -> tuple[list[tuple[Letter | TextRow, list[float]]], list[dict[str, Any]]]:
    """Inputs for every record, scored in one call. A record whose inputs cannot be built
    (or whose scoring fails) becomes an error; the others are kept."""
    errors: list[dict[str, Any]] = []
    ready: list[tuple[Letter | TextRow, list[Example]]] = []
    for rec in records:
        try:
            ready.append((rec, model_inputs(rec, scorer.setting)))
        except LeakageError as e:
            errors.append(ParseError(rec.source, "leakage", str(e), "inputs").to_dict())
        except Exception as e:  # noqa: BLE001  (a bad record must not stop the batch)
            errors.append(ParseError(rec.source, "input-error", f"{type(e).__name__}: {e}", "inputs").to_dict())
    examples = [x for _, xs in ready for x in xs]
    try:
        probs = list(scorer.predict_proba(examples)) if examples else []
    except Exception as e:  # noqa: BLE001  (isolate the record that breaks the model)
        if len(ready) <= 1:
            errors += [ParseError(rec.source, "scoring-error", f"{type(e).__name__}: {e}", "classify").to_dict()
                       for rec, _ in ready]
            return [], errors
        out: list[tuple[Letter | TextRow, list[float]]] = []
        for rec, _ in ready:
            o, e2 = score_records([rec], scorer)
            out += o
            errors += e2
        return out, errors
    scored, k = [], 0
    for rec, xs in ready:
        scored.append((rec, probs[k:k + len(xs)]))
        k += len(xs)
    return scored, errors


def predict_batch(scorer: Scorer, records: list) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``imr predict`` job's step: records -> scored item rows + error records."""
    info = describe(scorer)
    scored, errors = score_records(records, scorer)
    return [row for rec, probs in scored for row in item_rows(rec, probs, info)], errors


def predict(paths: Sequence[str | Path], scorer: Scorer, out: str | Path, errors: str | Path | None = None,
            fmt: str | None = None, batch_letters: int = 32, quiet: bool = False,
            restart: bool = False, model_ref: str | None = None) -> Summary:
    """Run (or resume) a prediction job: every record under ``paths`` scored by ``scorer``."""
    info = describe(scorer)
    job = Job("predict", Path(out), errors, fmt, identity={**info, "model_ref": model_ref or info["model"]},
              batch_size=batch_letters, restart=restart, quiet=quiet, unit="items", columns=COLUMNS,
              schema=arrow_schema(FIELDS), json_columns=CITATION_FIELDS)
    return run_job(paths, lambda recs: predict_batch(scorer, recs), job)


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """An ``imr predict`` output read back (any format)."""
    from ..io.writers import read_rows

    return read_rows(path, json_columns=CITATION_FIELDS, float_columns=("p_overturned", "threshold"),
                     int_columns=("index",))
