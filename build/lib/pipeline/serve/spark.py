"""``imr predict --engine spark``: the same job as `pipeline.serve.batch`, on Apache Spark.

The driver lists the input files; Spark reads their bytes (``binaryFile``, so inputs may be
on any Hadoop file system: ``hdfs://``, ``s3a://``, a shared mount), executors parse the
letters and build each item's model input (`mapInArrow`, same code as the local engine),
then score the inputs with the model: an MLflow model through `mlflow.pyfunc.spark_udf`, an
``imr export`` (ONNX) or classifier folder through an equivalent pandas UDF that loads it
once per Python worker from the files Spark ships (``SparkContext.addFile``). Items are
written as Parquet (a folder of part files, committed by Spark's output committer with a
``_SUCCESS`` marker); error records (source, code, message, stage) to a JSONL file.

Rows, columns and predictions are those of the local engine.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..extract.records import PREDICTION_FIELDS, columns
from ..io.jobs import ERROR_COLUMNS, Summary
from ..io.schema import ParseError
from ..io.sources import discover, read_file
from ..io.writers import check_output, default_errors_path
from . import batch

_SCORERS: dict[str, Any] = {}  # per Python worker: model path -> Scorer
_TAGGERS: dict[str, Any] = {}  # per Python worker: tagger path -> spaCy pipeline
EXAMPLE = "_example"  # the column holding each item's model input (an Example as JSON)
KIND = "_kind"  # item | error
PREDICTED = set(columns(PREDICTION_FIELDS))


def spark_session(master: str = "local[2]", app: str = "imr-predict", conf: dict[str, str] | None = None):
    """A SparkSession on ``master`` (local[N], spark://host:7077, yarn, k8s://...)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.master(master).appName(app)
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "8"))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        b = b.config(f"spark.executorEnv.{var}", os.environ.get(var, "1" if "OFFLINE" in var else "false"))
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _arrow_schema():
    import pyarrow as pa

    from ..extract.records import arrow_schema

    keep = [f for f in arrow_schema(batch.FIELDS) if f.name not in PREDICTED]  # scored later, by Spark
    return pa.schema(keep + [pa.field(EXAMPLE, pa.string()), pa.field(KIND, pa.string()),
                             pa.field("code", pa.string()), pa.field("message", pa.string()),
                             pa.field("stage", pa.string())])


def _spark_type(column: str):
    from pyspark.sql.pandas.types import from_arrow_type

    from ..extract.records import arrow_schema

    return from_arrow_type(arrow_schema(batch.FIELDS).field(column).type)


def _spark_schema():
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_arrow_schema())


def records_from_bytes(data: bytes, source: str):
    """The records of one input file given its bytes (as `pipeline.io.sources.read_file`
    reads the file itself), with ``source`` as their source."""
    name = Path(source.split("/")[-1] or "input").name
    with tempfile.TemporaryDirectory(prefix="imr-spark-") as tmp:
        p = Path(tmp) / name
        p.write_bytes(data)
        for rec in read_file(p):
            if rec.source == str(p) or rec.source.startswith((str(p) + ":", str(p) + "#")):
                rec.source = source + rec.source[len(str(p)):]
            yield rec


def _tagger(ref: str):
    """The tagger of a Python worker, loaded once: a saved pipeline (``ref`` a path shipped
    with the job) or the default one (``ref`` empty)."""
    from ..nlp.build import load_tagger

    if ref not in _TAGGERS:
        local = ref
        if ref and not os.path.isabs(ref):
            from pyspark import SparkFiles

            local = SparkFiles.get(ref)
        _TAGGERS[ref] = load_tagger(local or None)
    return _TAGGERS[ref]


def parse_partition(setting: str | None, names: dict[str, str], tagger: str = ""):
    """mapInArrow function: (path, content) batches -> item rows (with the model input when
    ``setting`` is given) + error records, tagged as by the local engine."""

    def run(batches: Iterator) -> Iterator:
        import pyarrow as pa

        from ..extract.items import tagged_rows

        schema = _arrow_schema()
        nlp = _tagger(tagger)
        for rb in batches:
            paths = rb.column(rb.schema.get_field_index("path")).to_pylist()
            contents = rb.column(rb.schema.get_field_index("content")).to_pylist()
            rows: list[dict[str, Any]] = []
            good = []
            for path, content in zip(paths, contents):
                for rec in records_from_bytes(content or b"", names.get(path, path)):
                    if isinstance(rec, ParseError):
                        rows.append({**rec.to_dict(), KIND: "error"})
                    else:
                        good.append(rec)
            tagged, errs = tagged_rows(nlp, good)
            rows += [{**e, KIND: "error"} for e in errs]
            for rec, item_rows in tagged:
                exs: list = [None] * len(item_rows)
                if setting:
                    try:
                        exs = batch.model_inputs(rec, setting, item_rows)
                    except Exception as e:  # noqa: BLE001  (a bad record must not stop the partition)
                        code = "leakage" if isinstance(e, batch.LeakageError) else "input-error"
                        rows.append({**ParseError(rec.source, code, f"{type(e).__name__}: {e}", "inputs").to_dict(),
                                     KIND: "error"})
                        continue
                for r, ex in zip(item_rows, exs):
                    r[EXAMPLE] = json.dumps(ex.to_dict(), ensure_ascii=False) if ex else None
                    r[KIND] = "item"
                    rows.append(r)
            yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return run


def _scorer(path: str, setting: str):
    from .scorers import load_scorer

    key = f"{path}|{setting}"
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(path, setting=setting)
    return _SCORERS[key]


def scoring_udf(shipped: str, setting: str):
    """A pandas UDF: Example JSON -> p_overturned, the model loaded once per Python worker
    from the folder Spark shipped (``addFile``)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def score(examples):
        import numpy as np
        from pyspark import SparkFiles

        from ..classify.examples import Example

        local = SparkFiles.get(shipped) if not os.path.isabs(shipped) else shipped
        sc = _scorer(local, setting)
        mask = examples.notna().to_numpy()
        out = np.full(len(examples), np.nan)
        if mask.any():
            exs = [Example.from_dict(json.loads(x)) for x in examples[mask]]
            out[mask] = sc.predict_proba(exs)
        return pd.Series(out)

    # real types, not strings (this module has `from __future__ import annotations`)
    score.__annotations__ = {"examples": pd.Series, "return": pd.Series}
    return pandas_udf(score, "double")


def _is_mlflow_model(where: str) -> bool:
    p = Path(where)
    return not p.exists() or (p / "MLmodel").exists()


def _inputs(spark, paths: Sequence[str], partitions: int | None):
    """The inputs as a (path, content) DataFrame, the display name of each path, and the
    error records of paths that could not be listed."""
    from pyspark.sql import functions as F

    local_inputs = [p for p in paths if "://" not in str(p)]
    remote = [str(p) for p in paths if "://" in str(p)]
    found = list(discover(local_inputs))
    files = [f for f in found if isinstance(f, Path)]
    unreadable = [f for f in found if isinstance(f, ParseError)]
    names = {Path(f).resolve().as_uri(): str(f) for f in files}
    names.update({"file:" + str(Path(f).resolve()): str(f) for f in files})
    uris = [Path(f).resolve().as_uri() for f in files] + remote
    if not uris:
        from ..errors import InputError

        raise InputError("no input files among " + ", ".join(map(str, paths)))
    reader = spark.read.format("binaryFile")
    if remote:
        reader = reader.option("recursiveFileLookup", "true")
    nonempty = [u for u, f in zip(uris, files) if Path(f).stat().st_size > 0] + remote
    raw = reader.load(nonempty).select("path", "content") if nonempty else None
    empty = [(u,) for u, f in zip(uris, files) if Path(f).stat().st_size == 0]
    if empty:  # Spark's file scan drops zero-length files: they still get their error record
        e = spark.createDataFrame(empty, "path string").select("path", F.lit(b"").alias("content"))
        raw = e if raw is None else raw.unionByName(e)
    n_part = partitions or max(spark.sparkContext.defaultParallelism, min(len(uris) // 16, 64)) or 1
    return raw.repartition(n_part), names, unreadable


def _ship(sc, master: str, path: str | None) -> str:
    """A local folder as workers see it: itself in local mode, else shipped (``addFile``)."""
    if not path or master.startswith("local"):
        return str(Path(path).resolve()) if path else ""
    sc.addFile(str(Path(path).resolve()), recursive=True)
    return Path(path).name


def _score(spark, parsed, model: str, where: str, setting: str, master: str, use_spark_udf: bool | None):
    from pyspark.sql import functions as F

    if use_spark_udf is None:
        use_spark_udf = _is_mlflow_model(where)
    if use_spark_udf:
        import mlflow.pyfunc

        from .. import store

        store.connect()
        udf = mlflow.pyfunc.spark_udf(spark, where, result_type="double", env_manager="local")
        from ..classify.pyfunc import FACETS, REGION_SEP

        ex = F.from_json(F.col(EXAMPLE), "id string, text string, " + ", ".join(
            f"{f} {'array<string>' if f == 'body_regions' else 'string'}" for f in FACETS))
        cols = [ex[c].alias(c) for c in ("id", "text", *FACETS) if c != "body_regions"]
        cols.append(F.array_join(ex["body_regions"], REGION_SEP).alias("body_regions"))
        return parsed.withColumn("p_overturned", F.when(F.col(KIND) == "item", udf(F.struct(*cols))))
    shipped = _ship(spark.sparkContext, master, where)
    return parsed.withColumn("p_overturned", scoring_udf(shipped, setting)(F.col(EXAMPLE)))


def run_spark(command: str, paths: Sequence[str], out: str | Path, errors: str | Path | None = None,
              master: str = "local[2]", model: str | None = None, setting: str | None = None,
              tagger: str | Path | None = None, partitions: int | None = None, spark=None,
              use_spark_udf: bool | None = None) -> Summary:
    """``imr extract`` (no ``model``) or ``imr predict`` on Spark: item rows as a Parquet folder
    at ``out``, error records as JSONL; the rows and errors of the local engine."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    out = str(out)
    errors = Path(errors) if errors else default_errors_path(Path(out.rstrip("/")))
    if "://" not in out:
        check_output(Path(out), folder_ok=True)
    check_output(errors)
    info = None
    if model:
        from .scorers import load_scorer, resolve

        where = resolve(model, setting)
        driver_scorer = load_scorer(model, setting=setting)  # setting, threshold, name
        setting = driver_scorer.setting
        info = {"model": driver_scorer.name, "setting": setting, "threshold": float(driver_scorer.threshold)}
    own = spark is None
    spark = spark or spark_session(master)
    try:
        raw, names, unreadable = _inputs(spark, paths, partitions)
        shipped_tagger = _ship(spark.sparkContext, master, str(tagger) if tagger else None)
        rows = raw.mapInArrow(parse_partition(setting if model else None, names, shipped_tagger), _spark_schema())
        if info:
            rows = _score(spark, rows, model, where, setting, master, use_spark_udf)
            thr = info["threshold"]
            rows = (rows.withColumn("model", F.lit(info["model"])).withColumn("setting", F.lit(setting))
                    .withColumn("threshold", F.lit(thr))
                    .withColumn("prediction", F.when(F.col("p_overturned") >= F.lit(thr), "Overturned")
                                .otherwise("Upheld")))
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        if info:  # evidence and similar items: local engine only (--explain, --similar)
            for col in ("evidence", "similar"):
                rows = rows.withColumn(col, F.array().cast(_spark_type(col)))
        cols = batch.COLUMNS if info else [c for c in batch.COLUMNS if c not in PREDICTED]
        rows.filter(F.col(KIND) == "item").select(*cols).write.mode("overwrite").parquet(out)
        s = Summary(command=command, unit="items", out=out, errors_path=str(errors))
        tmp = errors.with_name(errors.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for e in unreadable:
                fh.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
                s.errors += 1
            for r in rows.filter(F.col(KIND) == "error").select(*ERROR_COLUMNS).toLocalIterator():
                fh.write(json.dumps(r.asDict(), ensure_ascii=False) + "\n")
                s.errors += 1
        os.replace(tmp, errors)
        counts = rows.groupBy(KIND).agg(F.count("*").alias("n"), F.countDistinct("source").alias("records")
                                        ).collect()
        by = {r[KIND]: r for r in counts}
        s.rows_out = int(by["item"]["n"]) if "item" in by else 0
        s.records_ok = int(by["item"]["records"]) if "item" in by else 0
        s.records_in = s.records_ok + s.errors
        rows.unpersist()
        s.seconds = time.perf_counter() - t0
        return s
    finally:
        if own:
            spark.stop()


def predict_spark(paths: Sequence[str], model: str, out: str | Path, errors: str | Path | None = None,
                  master: str = "local[2]", setting: str | None = None, **kw) -> Summary:
    """``imr predict --engine spark``: see `run_spark`."""
    return run_spark("predict", paths, out, errors, master, model=model, setting=setting, **kw)
