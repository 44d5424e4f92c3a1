"""Batch prediction jobs: stream any number of letters, lose nothing, resume after a kill.

``predict(paths, scorer, out)`` reads letters (PDF, text, folders, DMHC CSVs) one at a
time, parses them, builds each item's model input for the scorer's setting
(`pipeline.examples`), scores them in bounded batches and writes one row per item: the
parsed fields, the normalized guidelines and the prediction. Every input that cannot be
turned into rows becomes one error record (source, code, message, stage).

Durability. Work goes to ``OUT.parts/``: each batch is one part file written under a
temporary name, flushed to disk, then renamed, so a part either exists whole or not at
all. A part's first line lists the sources (letters, CSV rows) it completes. A rerun of
the same command (after a crash, Ctrl-C or SIGKILL) skips those sources and goes on; when
every source is done the parts are merged, streaming, into OUT and the errors file (again
temporary name, then rename) and ``OUT.parts/`` is removed. A kill during the merge just
merges again. So no item is written twice, none is lost, and OUT is never half-written.

Memory stays flat: one batch of letters is in memory at a time, and the merge streams.
"""
from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .schema import Letter, ParseError

FORMATS = ("jsonl", "parquet", "csv")
PARTS_SUFFIX = ".parts"
JOB_FILE = "job.json"

# One output row per disputed item: the letter's fields, the item's, the prediction.
LETTER_FIELDS = ("source", "case_number", "layout", "date_assigned", "date_of_injury",
                 "decision_date", "ur_denial_date", "application_received", "priority",
                 "licensure", "specialty", "case_summary")
ITEM_FIELDS = ("index", "item", "original_request", "authorized", "decision",
               "claims_administrator_guideline", "maximus_guideline", "rationale")
GUIDELINE_FIELDS = ("claims_administrator_guidelines", "maximus_guidelines")  # normalized lists
PREDICTION_FIELDS = ("model", "setting", "p_overturned", "prediction", "threshold")
# Letters give one row per item (``id`` = case_number#index); CSV/JSONL files of
# ``id,text`` rows give one row per row (``id``; the letter and item fields empty).
COLUMNS = ("source", "id", "case_number", "index", "item", *PREDICTION_FIELDS, "decision",
           *[f for f in LETTER_FIELDS if f not in ("source", "case_number")],
           *[f for f in ITEM_FIELDS if f not in ("index", "item", "decision")],
           *GUIDELINE_FIELDS)
CITATION_KEYS = ("source", "chapter", "page", "section", "text")
ERROR_COLUMNS = ("source", "error", "code", "message", "stage")  # error = code (as `imr parse`)


class JobMismatch(RuntimeError):
    """OUT.parts/ holds the unfinished work of a different job (another model or format)."""


def format_of(out: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        return fmt
    ext = out.suffix.lower().lstrip(".")
    return ext if ext in FORMATS else "jsonl"


def default_errors_path(out: Path) -> Path:
    stem = out.name
    for ext in FORMATS:
        if stem.endswith("." + ext):
            stem = stem[: -len(ext) - 1]
            break
    return out.with_name(stem + ".errors.jsonl")


# --------------------------------------------------------------------------- rows

def normalized_guidelines(line: str | None) -> list[dict[str, Any]]:
    """A guideline line as normalized citations (the tagger's normalization)."""
    if not line:
        return []
    try:
        from .nlp.guidelines import normalize
    except Exception:  # the tagger is optional for prediction
        return []
    try:
        return [{k: c.get(k) for k in CITATION_KEYS} for c in normalize(line)]
    except Exception:
        return []


def item_rows(letter: Letter, probs: Sequence[float], scorer_info: dict[str, Any]) -> list[dict[str, Any]]:
    d = letter.to_dict()
    rows = []
    threshold = float(scorer_info["threshold"])
    for it, p in zip(letter.items, probs):
        r: dict[str, Any] = {k: d.get(k) for k in LETTER_FIELDS}
        r.update({"id": f"{letter.case_number or Path(letter.source).stem}#{it.index}",
                  "index": it.index, "item": it.item, "original_request": it.original_request,
                  "authorized": it.authorized, "decision": it.decision.value,
                  "claims_administrator_guideline": it.claims_administrator_guideline,
                  "maximus_guideline": it.maximus_guideline, "rationale": it.rationale,
                  "claims_administrator_guidelines": normalized_guidelines(it.claims_administrator_guideline),
                  "maximus_guidelines": normalized_guidelines(it.maximus_guideline),
                  "model": scorer_info["model"], "setting": scorer_info["setting"],
                  "p_overturned": float(p), "threshold": threshold,
                  "prediction": "Overturned" if float(p) >= threshold else "Upheld"})
        rows.append({k: r[k] for k in COLUMNS})
    return rows


@dataclasses.dataclass
class TextRow:
    """One ``id,text`` row of a CSV/JSONL input (not a letter): one prediction per row."""

    source: str
    id: str
    text: str


def text_row_output(row: TextRow, p: float, scorer_info: dict[str, Any]) -> dict[str, Any]:
    threshold = float(scorer_info["threshold"])
    r: dict[str, Any] = dict.fromkeys(COLUMNS)
    r.update({"source": row.source, "id": row.id, "model": scorer_info["model"],
              "setting": scorer_info["setting"], "p_overturned": float(p), "threshold": threshold,
              "prediction": "Overturned" if float(p) >= threshold else "Upheld",
              "claims_administrator_guidelines": [], "maximus_guidelines": []})
    return r


def error_row(source: str, code: str, message: str, stage: str) -> dict[str, Any]:
    return {"source": source, "error": code, "code": code, "message": message, "stage": stage}


def model_inputs(letter: Letter | TextRow, setting: str) -> list:
    """One `examples.Example` per item of ``letter`` (one for a `TextRow`); raises
    `examples.LeakageError` on a prior input that would leak the decision."""
    from .examples import Example, letter_examples

    if isinstance(letter, TextRow):
        text = letter.text
        if setting == "prior":
            from .classifiers.predict import prior_text_row

            text = prior_text_row(text)
        return [Example(id=letter.id, group=letter.id, domain="dwc", setting=setting, text=text)]
    return letter_examples([letter], setting)


def score_letters(letters: list[Letter | TextRow], scorer) -> tuple[list[tuple[Letter, list[float]]],
                                                              list[dict[str, Any]]]:
    """Inputs for every letter, scored in one call. A letter whose inputs cannot be built
    (or whose scoring fails) becomes an error; the others are kept."""
    errors: list[dict[str, Any]] = []
    ready: list[tuple[Letter, list]] = []
    for letter in letters:
        try:
            ready.append((letter, model_inputs(letter, scorer.setting)))
        except Exception as e:
            code = "leakage" if type(e).__name__ == "LeakageError" else "input-error"
            errors.append(error_row(letter.source, code, f"{type(e).__name__}: {e}", "inputs"))
    texts = [t for _, ts in ready for t in ts]
    try:
        probs = list(scorer.predict_proba(texts)) if texts else []
    except Exception:
        if len(ready) <= 1:
            for letter, _ in ready:
                import traceback

                errors.append(error_row(letter.source, "scoring-error",
                                        traceback.format_exc(limit=1).strip().splitlines()[-1], "classify"))
            return [], errors
        out: list[tuple[Letter, list[float]]] = []
        for letter, _ in ready:  # isolate the letter that breaks the model
            o, e = score_letters([letter], scorer)
            out += o
            errors += e
        return out, errors
    scored, k = [], 0
    for letter, ts in ready:
        scored.append((letter, probs[k:k + len(ts)]))
        k += len(ts)
    return scored, errors


# --------------------------------------------------------------------------- inputs

def unique_files(paths: Iterable[str | Path]) -> list[Path]:
    """`sources.expand_paths` with each file once (the first spelling wins)."""
    from .sources import expand_paths

    seen: set[str] = set()
    out = []
    for p in expand_paths(paths):
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def count_letters(files: Sequence[Path]) -> int:
    """Letters to expect (files, plus one per CSV row): for the progress bar only."""
    from .sources import TABLE_SUFFIXES

    n = 0
    for f in files:
        if f.suffix.lower() in TABLE_SUFFIXES:
            try:
                with f.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
                    n += max(0, sum(1 for _ in csv.reader(fh)) - 1) or 1
            except (OSError, csv.Error):
                n += 1
        else:
            n += 1
    return n


def is_row_file(path: Path) -> bool:
    """A CSV/JSONL of ``id,text`` rows (`imr predict` scores each row), not a DMHC export."""
    if path.suffix.lower() not in (".csv", ".jsonl"):
        return False
    try:
        from .classifiers.predict import _is_row_file
    except ImportError:
        return path.suffix.lower() == ".jsonl"
    try:
        return _is_row_file(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def text_rows(path: Path) -> Iterator[TextRow | ParseError]:
    from .classifiers.predict import read_rows as read_id_text

    try:
        rows = read_id_text(path)
    except Exception as e:
        yield ParseError(str(path), "unreadable-file", f"cannot read the rows: {type(e).__name__}: {e}")
        return
    for r in rows:
        yield TextRow(f"{path}:{r['id']}", r["id"], r["text"])


def records(files: Sequence[Path], done: set[str]) -> Iterator[Letter | TextRow | ParseError]:
    """Parse the inputs one by one, skipping the sources in ``done`` (a letter file is
    skipped before it is even read)."""
    from .sources import TABLE_SUFFIXES, read_records

    for f in files:
        tabular = f.suffix.lower() in TABLE_SUFFIXES | {".jsonl"}
        if not tabular and str(f) in done:
            continue
        for rec in (text_rows(f) if tabular and is_row_file(f) else read_records([f])):
            if rec.source not in done:
                yield rec


# --------------------------------------------------------------------------- parts

def _fsync_write(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for ln in lines:
            fh.write(ln)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Parts:
    """The append-only journal in ``OUT.parts/``: part files written whole or not at all."""

    def __init__(self, out: Path, job: dict[str, Any], restart: bool = False):
        self.dir = out.with_name(out.name + PARTS_SUFFIX)
        if restart and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = (self.dir / "lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another `imr predict` is writing {out} (lock on {self.dir}/lock)")
        for tmp in self.dir.glob("*.tmp"):  # a part a kill interrupted: redone
            tmp.unlink()
        jf = self.dir / JOB_FILE
        if jf.exists():
            old = json.loads(jf.read_text())
            if old != job:
                diff = {k: (old.get(k), job.get(k)) for k in set(old) | set(job) if old.get(k) != job.get(k)}
                raise JobMismatch(f"{self.dir} holds unfinished work of another job ({diff}); rerun "
                                  "that job, or pass --restart to discard it")
        else:
            _fsync_write(jf, [json.dumps(job, sort_keys=True)])
        self.files = sorted(self.dir.glob("part-*.jsonl"))
        self.seq = len(self.files)

    def done_sources(self) -> set[str]:
        done: set[str] = set()
        for f in self.files:
            with f.open(encoding="utf-8") as fh:
                done.update(json.loads(fh.readline())["sources"])
        return done

    def write(self, sources: list[str], rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
        path = self.dir / f"part-{self.seq:07d}.jsonl"
        head = {"sources": sources, "items": len(rows), "errors": len(errors)}
        _fsync_write(path, [json.dumps(head, ensure_ascii=False) + "\n",
                            *(json.dumps({"item": r}, ensure_ascii=False) + "\n" for r in rows),
                            *(json.dumps({"error": e}, ensure_ascii=False) + "\n" for e in errors)])
        self.files.append(path)
        self.seq += 1

    def stream(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
        """(head, rows, errors) of each part, in order: one part in memory at a time."""
        for f in self.files:
            with f.open(encoding="utf-8") as fh:
                head = json.loads(fh.readline())
                rows, errs = [], []
                for ln in fh:
                    rec = json.loads(ln)
                    (rows if "item" in rec else errs).append(rec.get("item") or rec.get("error"))
            yield head, rows, errs

    def remove(self) -> None:
        self._lock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- writers

def arrow_schema():
    import pyarrow as pa

    citation = pa.list_(pa.struct([(k, pa.string()) for k in CITATION_KEYS]))
    types = {"index": pa.int32(), "p_overturned": pa.float64(), "threshold": pa.float64()}
    return pa.schema([(c, citation if c in GUIDELINE_FIELDS else types.get(c, pa.string()))
                      for c in COLUMNS])


class RowWriter:
    """Rows to OUT in one format, under a temporary name until `commit`."""

    def __init__(self, out: Path, fmt: str):
        self.out, self.fmt = out, fmt
        self.tmp = out.with_name(out.name + ".tmp")
        out.parent.mkdir(parents=True, exist_ok=True)
        self._pq = None
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self.schema = arrow_schema()
            self._pq = pq.ParquetWriter(str(self.tmp), self.schema)
        else:
            self._fh = self.tmp.open("w", encoding="utf-8", newline="")
            if fmt == "csv":
                self._csv = csv.DictWriter(self._fh, fieldnames=list(COLUMNS))
                self._csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.fmt == "parquet":
            import pyarrow as pa

            self._pq.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        elif self.fmt == "csv":
            for r in rows:
                self._csv.writerow({k: json.dumps(v, ensure_ascii=False) if k in GUIDELINE_FIELDS else v
                                    for k, v in r.items()})
        else:
            for r in rows:
                self._fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        if self._pq is not None:
            self._pq.close()
        else:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        os.replace(self.tmp, self.out)


def read_rows(path: str | Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """Read an `imr predict` output back (any format, a Spark Parquet folder too)."""
    path = Path(path)
    fmt = fmt or ("parquet" if path.is_dir() else format_of(path, None))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(str(path)).to_pylist()
    elif fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for k in GUIDELINE_FIELDS:
                r[k] = json.loads(r[k]) if r.get(k) else []
            for k in ("p_overturned", "threshold"):
                r[k] = float(r[k])
            r["index"] = int(r["index"]) if r.get("index") else None
            for k, v in r.items():
                if v == "":
                    r[k] = None
    else:
        from .records import read_jsonl

        rows = list(read_jsonl(path))
    return rows


# --------------------------------------------------------------------------- job

@dataclasses.dataclass
class Summary:
    letters_in: int = 0
    letters_ok: int = 0
    items_out: int = 0
    errors: int = 0
    resumed: int = 0  # letters done by an earlier, interrupted run
    seconds: float = 0.0
    out: str = ""
    errors_path: str = ""

    def line(self) -> str:
        rate = (self.letters_in - self.resumed) / self.seconds if self.seconds > 0 else 0.0
        resumed = f", {self.resumed} of them resumed from an earlier run" if self.resumed else ""
        return (f"predict: {self.letters_in} letters in, {self.items_out} items out, {self.errors} errors "
                f"({self.letters_ok} letters with output + {self.errors} with errors{resumed}; "
                f"{rate:.1f} letters/s) -> {self.out}, {self.errors_path}")


def release_memory() -> None:
    """Hand freed heap back to the OS after each batch (glibc keeps it otherwise, and the
    RSS of a long run creeps up with the varying sizes of tokenized batches)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _progress(total: int, initial: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="predict", unit="letter", disable=quiet,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def predict(paths: Sequence[str | Path], scorer, out: str | Path, errors: str | Path | None = None,
            fmt: str | None = None, batch_letters: int = 32, quiet: bool = False,
            restart: bool = False, model_ref: str | None = None) -> Summary:
    """Run (or resume) a prediction job; see the module doc. Returns the counts."""
    from .models import describe

    t0 = time.perf_counter()
    out = Path(out)
    fmt = format_of(out, fmt)
    errors = Path(errors) if errors else default_errors_path(out)
    info = describe(scorer)
    files = unique_files(paths)
    job = {**info, "model_ref": model_ref or info["model"], "format": fmt,
           "inputs": [str(p) for p in paths], "errors": str(errors)}
    parts = Parts(out, job, restart=restart)
    done = parts.done_sources()
    bar = _progress(count_letters(files), len(done), quiet)
    batch: list[Letter | ParseError] = []

    def flush() -> None:
        if not batch:
            return
        letters = [r for r in batch if not isinstance(r, ParseError)]
        errs = [error_row(r.source, r.error, r.message, "parse") for r in batch if isinstance(r, ParseError)]
        scored, score_errs = score_letters(letters, scorer)
        rows = [row for letter, probs in scored
                for row in ([text_row_output(letter, probs[0], info)] if isinstance(letter, TextRow)
                            else item_rows(letter, probs, info))]
        parts.write([r.source for r in batch], rows, errs + score_errs)
        bar.update(len(batch))
        batch.clear()
        release_memory()

    try:
        for rec in records(files, done):
            batch.append(rec)
            if len(batch) >= batch_letters:
                flush()
        flush()
    finally:
        bar.close()
    summary = finish(parts, out, errors, fmt)
    summary.resumed = len(done)
    summary.seconds = time.perf_counter() - t0
    return summary


def finish(parts: Parts, out: Path, errors: Path, fmt: str) -> Summary:
    """Merge the parts into OUT and the errors file (streaming), then drop the parts."""
    s = Summary(out=str(out), errors_path=str(errors))
    writer = RowWriter(out, fmt)
    err_tmp = errors.with_name(errors.name + ".tmp")
    errors.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with err_tmp.open("w", encoding="utf-8") as efh:
        for head, rows, errs in parts.stream():
            fresh = [x for x in head["sources"] if x not in seen]
            if len(fresh) != len(head["sources"]):  # cannot happen: resume skips done sources
                raise RuntimeError(f"a source appears in two parts of {parts.dir}")
            seen.update(fresh)
            writer.write(rows)
            for e in errs:
                efh.write(json.dumps(e, ensure_ascii=False) + "\n")
            bad = {e["source"] for e in errs}
            s.letters_in += len(head["sources"])
            s.errors += len(errs)
            s.items_out += len(rows)
            s.letters_ok += len({r["source"] for r in rows} - bad)
        efh.flush()
        os.fsync(efh.fileno())
    writer.commit()
    os.replace(err_tmp, errors)
    parts.remove()
    return s
