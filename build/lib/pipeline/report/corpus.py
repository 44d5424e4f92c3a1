"""``imr analyze``: overturn rates across a corpus, with Wilson 95% intervals and counts.

Reads, streaming (one record or row batch in memory at a time):

- item rows of ``imr extract`` / ``imr predict`` (JSONL, Parquet, CSV; a Spark Parquet folder);
- letters (PDF, text, folders), tagged on the fly into the same item rows;
- DMHC IMR exports (CSV), with their own categories.

For DWC items it counts decided items and Overturned ones by treatment category, guideline
source and chapter (the MAXIMUS line: what the reviewer relied on), reviewer specialty,
diagnosis body region (an item counts once in each region of its case's diagnoses) and
decision month; for DMHC rows by treatment category, diagnosis category, review type and
year. An undecided item (another decision word) is counted in no rate.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..extract.facets import specialty_family
from ..io.rows import column_key, header_keys
from ..io.sources import discover
from ..io.text import decode

# table -> (title, what a value is)
DWC_TABLES = {
    "treatment category": "the item's treatment category (the tagger's mention, vocab/treatment_categories.json)",
    "guideline source": "sources cited in the MAXIMUS guideline line (an item citing two counts in both)",
    "guideline chapter": "source: chapter of each MAXIMUS citation",
    "reviewer specialty": "the reviewer's first listed board certification",
    "diagnosis body region": "body regions of the case's diagnoses (an item counts in each)",
    "decision month": "the month of the IMR decision",
}
DMHC_TABLES = {
    "treatment category": "DMHC TreatmentCategory",
    "diagnosis category": "DMHC DiagnosisCategory",
    "review type": "DMHC Type (medical necessity, experimental/investigational, urgent)",
    "report year": "DMHC ReportYear",
}
ORDERED = {"decision month", "report year"}  # tables shown in time order, not by size


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n (scipy)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


class Counts:
    """Decided and Overturned counts per (table, value), filled one item at a time."""

    def __init__(self, domain: str):
        self.domain = domain
        self.n: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.items = self.undecided = self.decided = self.overturned = 0

    def add(self, facets: dict[str, Iterable[str]], decision: str | None) -> None:
        self.items += 1
        if decision not in ("Upheld", "Overturned"):
            self.undecided += 1
            return
        self.decided += 1
        self.overturned += decision == "Overturned"
        for table, values in facets.items():
            for v in set(values):
                c = self.n[(table, v or "unknown")]
                c[0] += 1
                c[1] += decision == "Overturned"

    def table(self, name: str) -> list[dict[str, Any]]:
        rows = []
        for (t, value), (n, k) in self.n.items():
            if t == name:
                low, high = wilson(k, n)
                rows.append({"value": value, "n_items": n, "overturned": k, "rate": k / n, "low": low, "high": high})
        key = (lambda r: r["value"]) if name in ORDERED else (lambda r: (-r["n_items"], r["value"]))
        return sorted(rows, key=key)

    def overall(self) -> dict[str, Any]:
        low, high = wilson(self.overturned, self.decided)
        return {"items": self.items, "decided": self.decided, "overturned": self.overturned,
                "undecided": self.undecided, "rate": self.overturned / self.decided if self.decided else float("nan"),
                "low": low, "high": high}

    def titles(self) -> dict[str, str]:
        return DWC_TABLES if self.domain == "dwc" else DMHC_TABLES


def dwc_facets(row: dict[str, Any]) -> dict[str, list[str]]:
    """The values an item row counts under in each DWC table."""
    cites = row.get("maximus_guidelines") or []
    return {"treatment category": [row.get("treatment_category") or "other"],
            "guideline source": sorted({c["source"] for c in cites}) or ["none cited"],
            "guideline chapter": sorted({f"{c['source']}: {c['chapter'] or '?'}" for c in cites}) or ["none cited"],
            "reviewer specialty": [specialty_family(row.get("specialty"))],
            "diagnosis body region": list(row.get("body_regions") or []) or ["none found"],
            "decision month": [(row.get("decision_date") or "unknown")[:7]]}


def dmhc_facets(row: dict[str, str]) -> dict[str, list[str]]:
    return {"treatment category": [row.get("treatmentcategory") or "unknown"],
            "diagnosis category": [row.get("diagnosiscategory") or "unknown"],
            "review type": [row.get("type") or "unknown"],
            "report year": [row.get("reportyear") or "unknown"]}


_DMHC_DECISIONS = {"upheld decision of health plan": "Upheld", "overturned decision of health plan": "Overturned"}


def _item_rows(path: Path) -> Iterator[dict[str, Any]] | None:
    """The rows of an item-row file (extract/predict output), or None if it is not one."""
    from ..extract.records import JSON_FIELDS

    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".parquet":
        import pyarrow.parquet as pq

        def parquet() -> Iterator[dict[str, Any]]:
            for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=2048) if path.is_file() else \
                    (b for f in sorted(path.glob("*.parquet")) for b in pq.ParquetFile(str(f)).iter_batches(2048)):
                yield from batch.to_pylist()
        return parquet()
    if suffix in (".jsonl", ".ndjson"):
        import json

        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
        if '"treatment_category"' not in first:
            return None
        return (json.loads(line) for line in path.open(encoding="utf-8") if line.strip())
    if suffix == ".csv":
        keys = header_keys(decode(path.open("rb").read(65536)))
        if not {"treatmentcategory", "decision", "maximusguidelines"} <= keys:
            return None

        def table() -> Iterator[dict[str, Any]]:
            import json

            with path.open(encoding="utf-8", newline="") as fh:
                for r in csv.DictReader(fh):
                    r = {k: (v or None) for k, v in r.items()}
                    for k in JSON_FIELDS:
                        r[k] = json.loads(r[k]) if r.get(k) else []
                    yield r
        return table()
    return None


def _dmhc_rows(path: Path) -> Iterator[dict[str, str]] | None:
    from ..io import dmhc
    from ..io.rows import table_rows

    if path.suffix.lower() != ".csv":
        return None
    text = decode(path.read_bytes())
    if not dmhc.is_export(text):
        return None
    return (r for _, r, _ in table_rows(text, path) if r is not None)


def count(paths: Iterable[str | Path], nlp=None) -> tuple[Counts, Counts, int]:
    """(DWC counts, DMHC counts, letters tagged) over every input (see the module doc)."""
    from ..extract.items import tagged_rows
    from ..io.schema import Letter
    from ..io.sources import read_file

    dwc, dmhc = Counts("dwc"), Counts("dmhc")
    tagged = 0
    batch: list = []

    def flush() -> None:
        nonlocal tagged
        if batch:
            done, _ = tagged_rows(nlp, batch)
            for _, rows in done:
                for r in rows:
                    dwc.add(dwc_facets(r), r.get("decision"))
            tagged += len(done)
            batch.clear()

    for f in discover(paths):
        if not isinstance(f, Path):
            continue
        rows = _item_rows(f)
        if rows is not None:
            for r in rows:
                dwc.add(dwc_facets(r), r.get("decision"))
            continue
        rows = _dmhc_rows(f)
        if rows is not None:
            for r in rows:
                dmhc.add(dmhc_facets(r), _DMHC_DECISIONS.get((r.get("determination") or "").lower()))
            continue
        if nlp is None:
            from ..nlp.build import load_tagger

            nlp = load_tagger()
        for rec in read_file(f):
            if isinstance(rec, Letter) and rec.layout != "dmhc-csv":
                batch.append(rec)
                if len(batch) >= 16:
                    flush()
    flush()
    return dwc, dmhc, tagged


def write_csvs(counts: list[Counts], folder: Path) -> list[Path]:
    """One CSV per table: value, items, overturned, rate, wilson_low, wilson_high."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c in counts:
        for name in c.titles():
            rows = c.table(name)
            if not rows:
                continue
            path = folder / f"{c.domain}-{column_key(name)}.csv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["value", "items", "overturned", "rate", "wilson_low", "wilson_high"])
                w.writerows([r["value"], r["n_items"], r["overturned"], round(r["rate"], 4),
                             round(r["low"], 4), round(r["high"], 4)] for r in rows)
            out.append(path)
    return out



def sections(counts: Counts) -> list[dict[str, Any]]:
    """The page's sections of one domain: each table with its chart."""
    from .charts import rate_bars, rate_line

    overall = counts.overall()["rate"]
    out = []
    for name, note in counts.titles().items():
        rows = counts.table(name)
        if not rows:
            continue
        chart = rate_line(rows, f"Overturned by {name}") if name in ORDERED else \
            rate_bars(rows, f"Overturned by {name}", overall)
        out.append({"name": name, "note": note, "rows": rows, "chart": chart,
                    "csv": f"{counts.domain}-{column_key(name)}.csv"})
    return out


def analyze(paths: Iterable[str | Path], out: Path, csv_dir: Path | None = None, nlp=None,
            master: str | None = None) -> dict[str, Any]:
    """Count (on Spark with ``master``), write one CSV per table (default: a folder next to
    ``out``) and the HTML page."""
    from datetime import datetime

    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from .. import project

    paths = list(paths)
    dwc, dmhc, tagged = count_spark(paths, master) if master else count(paths, nlp)
    csv_dir = csv_dir or out.with_name(out.stem)
    files = write_csvs([dwc, dmhc], csv_dir)
    env = Environment(loader=FileSystemLoader(str(project.package_file("report", "templates"))),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    domains = [{"key": c.domain, "title": t, "overall": c.overall(), "sections": sections(c)}
               for c, t in ((dwc, "DWC workers' compensation IMR letters"), (dmhc, "DMHC health-plan IMRs"))
               if c.items]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(env.get_template("corpus.html.j2").render(
        title="imr corpus report", inputs=[str(p) for p in paths], tagged=tagged, domains=domains,
        csv_dir=str(csv_dir), generated=datetime.now().strftime("%Y-%m-%d %H:%M")), encoding="utf-8")
    return {"dwc": dwc.overall(), "dmhc": dmhc.overall(), "tables": len(files), "csv_dir": str(csv_dir)}


def count_spark(paths: Iterable[str], master: str = "local[2]") -> tuple[Counts, Counts, int]:
    """`count` on Spark for large inputs: item rows (Parquet folders or files, JSONL) and DMHC
    exports, each record's facets taken by the same functions, the counts reduced by Spark.
    Letters are extracted first (``imr extract --engine spark``)."""
    import os
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master(master).appName("imr-analyze").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    dwc, dmhc = Counts("dwc"), Counts("dmhc")
    try:
        for p in map(str, paths):
            if p.endswith(".csv"):
                df = spark.read.option("header", True).option("sep", ";" if ";" in open(p, encoding="utf-8-sig")
                                                                .readline() else ",").csv(p)
                target, facets, decide = dmhc, dmhc_facets, lambda r: _DMHC_DECISIONS.get(
                    (r.get("determination") or "").lower())
                rows = df.rdd.map(lambda r: {column_key(k): v for k, v in r.asDict().items()})
            else:
                df = spark.read.parquet(p) if not p.endswith((".jsonl", ".ndjson")) else spark.read.json(p)
                target, facets, decide = dwc, dwc_facets, lambda r: r.get("decision")
                rows = df.rdd.map(lambda r: r.asDict(recursive=True))
            pairs = rows.flatMap(lambda r, f=facets, d=decide: _keyed(f(r), d(r)))
            for (table, value, kind), n in pairs.countByValue().items():
                if kind == "item":
                    target.items += n
                elif kind == "undecided":
                    target.undecided += n
                elif kind in ("decided", "overturned"):
                    setattr(target, kind, getattr(target, kind) + n)
                else:
                    target.n[(table, value)][0 if kind == "n" else 1] += n
    finally:
        spark.stop()
    return dwc, dmhc, 0


def _keyed(facets: dict[str, list[str]], decision: str | None) -> list[tuple[str, str, str]]:
    """One item's contributions to the counts, as keys for Spark's countByValue."""
    out = [("", "", "item")]
    if decision not in ("Upheld", "Overturned"):
        return out + [("", "", "undecided")]
    out += [("", "", "decided")] + ([("", "", "overturned")] if decision == "Overturned" else [])
    for table, values in facets.items():
        for v in set(values):
            out.append((table, v or "unknown", "n"))
            if decision == "Overturned":
                out.append((table, v or "unknown", "k"))
    return out
