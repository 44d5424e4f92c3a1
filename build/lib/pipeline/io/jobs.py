"""The resumable job every record command runs (parse, tag, extract, predict).

``run_job(paths, process, job)`` reads the input records (`pipeline.io.sources`), hands
them to ``process`` in bounded batches, and writes what comes back: output rows to OUT,
error records to the errors file. Records in = records with output + records with errors,
always; one bad record never costs another one.

Durability. Work goes to ``OUT.parts/``: each batch is one part file written under a
temporary name, flushed to disk, then renamed, so a part exists whole or not at all. A
part's first line lists the records (by ``source`` key) it completes. A rerun of the same
command (after a crash, Ctrl-C or SIGKILL) skips those records and goes on; when every
record is done the parts are merged, streaming, into OUT and the errors file (temporary
name, then rename) and ``OUT.parts/`` is removed. Memory stays flat: one batch at a time.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import OutputError, UserError
from .schema import ParseError
from .sources import Record, discover, read_records
from .writers import RowWriter, check_output, default_errors_path, format_of, fsync_write

PARTS_SUFFIX = ".parts"
JOB_FILE = "job.json"
ERROR_COLUMNS = ("source", "code", "message", "stage")

# process(batch of Letters / TextRows) -> (output rows, error records); every output row
# carries the ``source`` of the record it came from.
Process = Callable[[list], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


class JobMismatch(UserError):
    """OUT.parts/ holds the unfinished work of a different job (another model or format)."""


class Interrupted(UserError):
    """Ctrl-C: the finished batches are kept; the same command resumes."""


@dataclasses.dataclass
class Job:
    """What a command asks of `run_job`: where to write, how, and what identifies the job."""

    command: str  # parse, tag, extract, predict: names the summary line and the progress bar
    out: Path
    errors: Path | None = None
    fmt: str | None = None
    identity: dict[str, Any] = dataclasses.field(default_factory=dict)  # a rerun must match it
    batch_size: int = 32
    restart: bool = False
    quiet: bool = False
    unit: str = "rows"  # what one output row is (letters, items, rows)
    columns: Sequence[str] | None = None  # CSV column order
    schema: Any = None  # the Arrow schema of flat rows (Parquet)
    json_columns: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.fmt = format_of(self.out, self.fmt)
        self.errors = Path(self.errors) if self.errors else default_errors_path(self.out)
        if self.fmt != "jsonl" and self.schema is None:
            raise OutputError(f"`imr {self.command}` writes nested records: give OUT a .jsonl name")


@dataclasses.dataclass
class Summary:
    command: str = ""
    records_in: int = 0
    records_ok: int = 0
    rows_out: int = 0
    errors: int = 0
    resumed: int = 0  # records done by an earlier, interrupted run
    seconds: float = 0.0
    unit: str = "rows"
    out: str = ""
    errors_path: str = ""

    def line(self) -> str:
        rate = (self.records_in - self.resumed) / self.seconds if self.seconds > 0 else 0.0
        resumed = f"; {self.resumed} resumed from an earlier run" if self.resumed else ""
        return (f"{self.command}: {self.records_in} records in = {self.records_ok} with output + "
                f"{self.errors} with errors; {self.rows_out} {self.unit} out ({rate:.1f} records/s"
                f"{resumed}) -> {self.out}, {self.errors_path}")


class Parts:
    """The append-only journal in ``OUT.parts/``: part files written whole or not at all."""

    def __init__(self, out: Path, identity: dict[str, Any], restart: bool = False, command: str = "imr"):
        self.dir = out.with_name(out.name + PARTS_SUFFIX)
        if restart and self.dir.exists():
            shutil.rmtree(self.dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.dir}: {e.strerror or e}") from None
        self._lock = (self.dir / "lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise UserError(f"another `imr {command}` is writing {out} right now (lock {self.dir}/lock); "
                            "wait for it or choose another --out") from None
        for tmp in self.dir.glob("*.tmp"):  # a part a kill interrupted: redone
            tmp.unlink()
        jf = self.dir / JOB_FILE
        if jf.exists():
            old = json.loads(jf.read_text())
            if old != identity:
                diff = {k: (old.get(k), identity.get(k)) for k in set(old) | set(identity)
                        if old.get(k) != identity.get(k)}
                self._lock.close()
                raise JobMismatch(f"{self.dir} holds unfinished work of another job ({diff}); rerun "
                                  "that job, or pass --restart to discard it")
        else:
            fsync_write(jf, [json.dumps(identity, sort_keys=True)])
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
        head = {"sources": sources, "rows": len(rows), "errors": len(errors)}
        fsync_write(path, [json.dumps(head, ensure_ascii=False) + "\n",
                           *(json.dumps({"row": r}, ensure_ascii=False) + "\n" for r in rows),
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
                    (rows if "row" in rec else errs).append(rec.get("row") or rec.get("error"))
            yield head, rows, errs

    def remove(self) -> None:
        self._lock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def release(self) -> None:
        self._lock.close()


def count_records(paths: Sequence[str | Path]) -> int:
    """Records to expect (a file each, a table one per line): for the progress bar only."""
    n = 0
    for f in discover(paths):
        if isinstance(f, Path) and f.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
            try:
                with f.open("rb") as fh:
                    n += max(1, sum(1 for _ in fh) - (f.suffix.lower() == ".csv"))
            except OSError:
                n += 1
        else:
            n += 1
    return n


def release_memory() -> None:
    """Hand freed heap back to the OS after each batch (glibc keeps it otherwise, and the
    RSS of a long run creeps up with the varying sizes of batches)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _progress(command: str, total: int, initial: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=max(total, initial), initial=initial, desc=command, unit="record", disable=quiet,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def run_job(paths: Sequence[str | Path], process: Process, job: Job) -> Summary:
    """Run (or resume) a job; see the module doc. Returns the counts."""
    t0 = time.perf_counter()
    check_output(job.out, job.errors)
    identity = {**job.identity, "command": job.command, "format": job.fmt,
                "inputs": [str(p) for p in paths], "errors": str(job.errors)}
    parts = Parts(job.out, identity, restart=job.restart, command=job.command)
    done = parts.done_sources()
    bar = _progress(job.command, count_records(paths), len(done), job.quiet)
    batch: list[Record] = []

    def flush() -> None:
        if not batch:
            return
        good = [r for r in batch if not isinstance(r, ParseError)]
        errs = [r.to_dict() for r in batch if isinstance(r, ParseError)]
        rows, more = process(good) if good else ([], [])
        parts.write([r.source for r in batch], rows, errs + more)
        bar.update(len(batch))
        batch.clear()
        release_memory()

    try:
        for rec in read_records(paths, skip=done):
            batch.append(rec)
            if len(batch) >= job.batch_size:
                flush()
        flush()
    except KeyboardInterrupt:
        bar.close()
        parts.release()
        raise Interrupted(f"interrupted: {len(parts.files)} finished batches are kept in {parts.dir}; "
                          "rerun the same command to resume") from None
    finally:
        bar.close()
    summary = finish(parts, job)
    summary.resumed = len(done)
    summary.seconds = time.perf_counter() - t0
    return summary


def finish(parts: Parts, job: Job) -> Summary:
    """Merge the parts into OUT and the errors file (streaming), then drop the parts."""
    s = Summary(command=job.command, unit=job.unit, out=str(job.out), errors_path=str(job.errors))
    writer = RowWriter(job.out, job.fmt, job.columns, job.schema, job.json_columns)
    err_tmp = job.errors.with_name(job.errors.name + ".tmp")
    seen: set[str] = set()
    try:
        with err_tmp.open("w", encoding="utf-8") as efh:
            for head, rows, errs in parts.stream():
                if seen.intersection(head["sources"]):  # resume skips done records: a bug if it happens
                    raise RuntimeError(f"a record appears in two parts of {parts.dir}")
                seen.update(head["sources"])
                writer.write(rows)
                for e in errs:
                    efh.write(json.dumps(e, ensure_ascii=False) + "\n")
                bad = {e["source"] for e in errs}
                s.records_in += len(head["sources"])
                s.errors += len(bad)
                s.rows_out += len(rows)
                s.records_ok += len({r["source"] for r in rows} - bad)
            efh.flush()
            os.fsync(efh.fileno())
    except BaseException:
        writer.abort()
        err_tmp.unlink(missing_ok=True)
        raise
    writer.commit()
    os.replace(err_tmp, job.errors)
    parts.remove()
    return s
