"""``imr predict``: the item rows of ``imr extract``, scored, as one resumable job.

Each batch of records (`pipeline.io.jobs`) is tagged and turned into item rows
(`pipeline.extract.items`), its model inputs are built for the scorer's setting
(`pipeline.classify.examples`: the leakage guard checks every ``prior`` input) and scored
in one call; each row gets the prediction columns. A record the tagger cannot read, whose
inputs cannot be built, or that breaks the model becomes an error record (stage ``tag``,
``inputs`` or ``classify``); the others in its batch are kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..classify.examples import Example, LeakageError, prior_text_plain, row_examples
from ..extract.items import tagged_rows
from ..extract.records import EXTRACT_FIELDS, JSON_FIELDS, PREDICTION_FIELDS, arrow_schema, columns
from ..io.jobs import Job, Summary, run_job
from ..io.schema import Letter, ParseError, TextRow
from .scorers import Scorer, describe

# The prediction right after the item's identity, then the rest of the item row.
FIELDS = (*EXTRACT_FIELDS[:5], *PREDICTION_FIELDS, *EXTRACT_FIELDS[5:])
COLUMNS = tuple(columns(FIELDS))


def model_inputs(rec: Letter | TextRow, setting: str, rows: list[dict[str, Any]]) -> list[Example]:
    """One `Example` per item row of a record (the tagger's facets included), as training built
    them (`pipeline.classify.examples.row_examples`); a text row's input is its own text.
    Raises `LeakageError` on a prior input that would leak the decision."""
    if isinstance(rec, TextRow):
        text = prior_text_plain(rec.text) if setting == "prior" else rec.text
        row = rows[0]
        return [Example(id=rec.id, group=rec.id, domain="dwc", setting=setting, text=text,
                        treatment_category=row.get("treatment_category"),
                        body_regions=list(row.get("body_regions") or []))]
    return row_examples(rows, setting)


def scored_rows(rows: list[dict[str, Any]], probs: Sequence[float], info: dict[str, Any]) -> list[dict[str, Any]]:
    """Item rows with the prediction columns, in output column order (evidence and similar
    items when the row already holds them, else empty)."""
    threshold = float(info["threshold"])
    out = []
    for r, p in zip(rows, probs):
        r.setdefault("evidence", [])
        r.setdefault("similar", [])
        r.update({"model": info["model"], "setting": info["setting"], "p_overturned": float(p),
                  "threshold": threshold, "prediction": "Overturned" if float(p) >= threshold else "Upheld"})
        out.append({k: r[k] for k in COLUMNS})
    return out


def score_records(tagged: list[tuple[Letter | TextRow, list[dict[str, Any]]]], scorer: Scorer
                  ) -> tuple[list[tuple[list[dict[str, Any]], list[Example], list[float]]], list[dict[str, Any]]]:
    """Each record's item rows, model inputs and scores, all inputs scored in one call. A record whose
    inputs cannot be built (or whose scoring fails) becomes an error; the others are kept."""
    errors: list[dict[str, Any]] = []
    ready: list[tuple[Letter | TextRow, list[dict[str, Any]], list[Example]]] = []
    for rec, rows in tagged:
        try:
            ready.append((rec, rows, model_inputs(rec, scorer.setting, rows)))
        except LeakageError as e:
            errors.append(ParseError(rec.source, "leakage", str(e), "inputs").to_dict())
        except Exception as e:  # noqa: BLE001  (a bad record must not stop the batch)
            errors.append(ParseError(rec.source, "input-error", f"{type(e).__name__}: {e}", "inputs").to_dict())
    examples = [x for _, _, xs in ready for x in xs]
    try:
        probs = list(scorer.predict_proba(examples)) if examples else []
    except Exception as e:  # noqa: BLE001  (isolate the record that breaks the model)
        if len(ready) <= 1:
            errors += [ParseError(rec.source, "scoring-error", f"{type(e).__name__}: {e}", "classify").to_dict()
                       for rec, _, _ in ready]
            return [], errors
        out: list[tuple[list[dict[str, Any]], list[Example], list[float]]] = []
        for rec, rows, _ in ready:
            o, e2 = score_records([(rec, rows)], scorer)
            out += o
            errors += e2
        return out, errors
    scored, k = [], 0
    for _, rows, xs in ready:
        scored.append((rows, xs, probs[k:k + len(xs)]))
        k += len(xs)
    return scored, errors


def predict_batch(scorer: Scorer, nlp, records: list, explain: bool = False, index=None, k: int = 0
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``imr predict`` job's step: records -> tagged, scored item rows + error records;
    with ``explain`` each row's evidence sentences, with an ``index`` its ``k`` similar items."""
    info = describe(scorer)
    tagged, errors = tagged_rows(nlp, records)
    scored, more = score_records(tagged, scorer)
    if explain and scored:
        from .explain import explain as evidence

        found = evidence(scorer, [x for _, xs, _ in scored for x in xs], [p for _, _, ps in scored for p in ps])
        for row, ev in zip((r for rows, _, _ in scored for r in rows), found):
            row["evidence"] = ev
    if index is not None and k and scored:
        rows = [r for rows, _, _ in scored for r in rows]
        for row, hits in zip(rows, index.query(rows, k)):
            row["similar"] = hits
    return [row for rows, _, probs in scored for row in scored_rows(rows, probs, info)], errors + more


def predict(paths: Sequence[str | Path], scorer: Scorer, out: str | Path, errors: str | Path | None = None,
            fmt: str | None = None, batch_letters: int = 32, quiet: bool = False,
            restart: bool = False, model_ref: str | None = None, nlp=None, tagger_ref: str = "default",
            explain: bool = False, similar: int = 0, index_path: str | Path | None = None) -> Summary:
    """Run (or resume) a prediction job: every record under ``paths`` tagged (``nlp``, default
    the tagger of `pipeline.nlp.build.load_tagger`) and scored by ``scorer``; with ``explain``
    the evidence sentences, with ``similar`` K the K nearest past items of the index."""
    from ..nlp.build import load_tagger

    index = None
    if similar:
        from .similar import Index

        index = Index(index_path or default_index())
    nlp = nlp if nlp is not None else load_tagger()
    info = describe(scorer)
    job = Job("predict", Path(out), errors, fmt,
              identity={**info, "model_ref": model_ref or info["model"], "tagger": tagger_ref,
                        "explain": explain, "similar": similar},
              batch_size=batch_letters, restart=restart, quiet=quiet, unit="items", columns=COLUMNS,
              schema=arrow_schema(FIELDS), json_columns=JSON_FIELDS)
    return run_job(paths, lambda recs: predict_batch(scorer, nlp, recs, explain, index, similar), job)


def default_index() -> Path:
    """The similarity index `make run` builds (``imr index``)."""
    from .. import project

    return project.models_dir() / "dwc-index"


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """An ``imr predict`` (or ``imr extract``) output read back (any format)."""
    from ..io.writers import read_rows

    return read_rows(path, json_columns=JSON_FIELDS, float_columns=("p_overturned", "threshold"),
                     int_columns=("index",))
