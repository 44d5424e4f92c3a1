"""`imr predict`: an MLflow pyfunc model on letters (per item) or on CSV/JSONL rows (id, text)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

ROW_SUFFIXES = {".csv", ".jsonl"}


def resolve_model(ref: str | Path) -> str:
    """A local MLflow model folder, else whatever the registry resolves (alias, version, URI)."""
    p = Path(ref)
    if p.exists():
        return str(p)
    try:
        from ..registry import resolve_model_uri
    except ImportError:
        raise FileNotFoundError(f"no model folder {ref}") from None
    return resolve_model_uri(str(ref))


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
        rows = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    return [{"id": str(r.get("id", n)), "text": r.get("text") or ""} for n, r in enumerate(rows)]


def predict_paths(paths: Iterable[str | Path], model: str | Path, out: str | Path,
                  errors: str | Path) -> tuple[int, int]:
    """Write one prediction per item / row to ``out``; unreadable inputs and inputs that
    fail the leakage guard go to ``errors``. Returns (predictions, errors)."""
    import mlflow.pyfunc
    import pandas as pd

    from ..examples import LeakageError, mask_verdicts, prior_text, rationale_text
    from ..records import AtomicJsonl
    from ..schema import ParseError
    from ..sources import expand_paths, read_records

    pyfunc = mlflow.pyfunc.load_model(resolve_model(model))
    setting = pyfunc.unwrap_python_model().setting
    n = 0
    with AtomicJsonl(out) as good, AtomicJsonl(errors) as bad:
        def run(df: pd.DataFrame, meta: list[dict]) -> None:
            nonlocal n
            if df.empty:
                return
            res = pyfunc.predict(df)
            for m, r in zip(meta, res.to_dict("records")):
                good.write({**m, "prediction": r["prediction"], "p_overturned": r["p_overturned"],
                            "setting": r["setting"]})
                n += 1

        for path in expand_paths(paths):
            if path.suffix.lower() in ROW_SUFFIXES and _is_row_file(path):
                rows, meta = [], []
                for r in read_rows(path):
                    try:
                        text = r["text"] if setting == "rationale" else prior_text_row(r["text"])
                    except LeakageError as e:
                        bad.write({"source": f"{path}:{r['id']}", "error": "leakage", "message": str(e)})
                        continue
                    rows.append({"id": r["id"], "text": text})
                    meta.append({"id": r["id"]})
                run(pd.DataFrame(rows, columns=["id", "text"]), meta)
                continue
            rows, meta = [], []
            for rec in read_records([path]):
                if isinstance(rec, ParseError):
                    bad.write(rec.to_dict())
                    continue
                for it in rec.items:
                    try:
                        text = (rationale_text(rec, it) if setting == "rationale" else
                                prior_text(it.item, it.claims_administrator_guideline, rec.case_summary,
                                           rationale=it.rationale))
                    except LeakageError as e:
                        bad.write({"source": rec.source, "error": "leakage", "message": str(e)})
                        continue
                    rows.append({"id": f"{rec.case_number}#{it.index}", "text": text,
                                 "specialty": rec.specialty})
                    meta.append({"case_number": rec.case_number, "index": it.index, "item": it.item})
            run(pd.DataFrame(rows, columns=["id", "text", "specialty"]), meta)
        n_err = bad.count
    return n, n_err


def prior_text_row(text: str) -> str:
    from ..examples import assert_no_leak, mask_verdicts

    return assert_no_leak(mask_verdicts(text))
