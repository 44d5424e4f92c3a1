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

    keep = [f for f in arrow_schema(batch.FIELDS) if f.name not in PREDICTED]
    return pa.schema(keep + [pa.field(EXAMPLE, pa.string()), pa.field(KIND, pa.string()),
                             pa.field("code", pa.string()), pa.field("message", pa.string()),
                             pa.field("stage", pa.string())])


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


def parse_partition(setting: str, names: dict[str, str]):
    """mapInArrow function: (path, content) batches -> item rows (with model input) + errors."""

    def run(batches: Iterator) -> Iterator:
        import pyarrow as pa

        schema = _arrow_schema()
        info = {"model": "", "setting": setting, "threshold": 0.5}
        for rb in batches:
            paths = rb.column(rb.schema.get_field_index("path")).to_pylist()
            contents = rb.column(rb.schema.get_field_index("content")).to_pylist()
            rows: list[dict[str, Any]] = []
            for path, content in zip(paths, contents):
                for rec in records_from_bytes(content or b"", names.get(path, path)):
                    if isinstance(rec, ParseError):
                        rows.append({**rec.to_dict(), KIND: "error"})
                        continue
                    try:
                        exs = batch.model_inputs(rec, setting)
                    except Exception as e:  # noqa: BLE001
                        code = "leakage" if isinstance(e, batch.LeakageError) else "input-error"
                        rows.append({**ParseError(rec.source, code, f"{type(e).__name__}: {e}", "inputs").to_dict(),
                                     KIND: "error"})
                        continue
                    for r, ex in zip(batch.item_rows(rec, [0.0] * len(exs), info), exs):
                        r = {k: v for k, v in r.items() if k not in PREDICTED}
                        r[EXAMPLE] = json.dumps(ex.to_dict(), ensure_ascii=False)
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


def predict_spark(paths: Sequence[str], model: str, out: str | Path, errors: str | Path | None = None,
                  master: str = "local[2]", setting: str | None = None, partitions: int | None = None,
                  spark=None, quiet: bool = False, use_spark_udf: bool | None = None) -> Summary:
    """Run the prediction job on Spark; Parquet items at ``out`` (a folder), errors JSONL."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from .scorers import load_scorer, resolve

    t0 = time.perf_counter()
    out = str(out)
    errors = Path(errors) if errors else default_errors_path(Path(out.rstrip("/")))
    if "://" not in out:
        check_output(Path(out), folder_ok=True)
    check_output(errors)
    where = resolve(model, setting)
    driver_scorer = load_scorer(model, setting=setting)  # setting, threshold, name
    setting = driver_scorer.setting
    info = {"model": driver_scorer.name, "setting": setting, "threshold": float(driver_scorer.threshold)}
    own = spark is None
    spark = spark or spark_session(master)
    try:
        sc = spark.sparkContext
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
        n_part = partitions or max(sc.defaultParallelism, min(len(uris) // 16, 64)) or 1
        parsed = raw.repartition(n_part).mapInArrow(parse_partition(setting, names), _spark_schema())
        if use_spark_udf is None:
            use_spark_udf = _is_mlflow_model(where)
        if use_spark_udf:
            import mlflow.pyfunc

            from .. import store

            store.connect()
            udf = mlflow.pyfunc.spark_udf(spark, where, result_type="double", env_manager="local")
            ex = F.from_json(F.col(EXAMPLE), "id string, text string, specialty string")
            scored = parsed.withColumn("p_overturned", F.when(F.col(KIND) == "item", udf(F.struct(
                ex["id"].alias("id"), ex["text"].alias("text"), ex["specialty"].alias("specialty")))))
        else:
            shipped = where
            if not master.startswith("local"):
                sc.addFile(str(Path(where).resolve()), recursive=True)
                shipped = Path(where).name
            scored = parsed.withColumn("p_overturned", scoring_udf(shipped, setting)(F.col(EXAMPLE)))
        thr = info["threshold"]
        scored = (scored.withColumn("model", F.lit(info["model"])).withColumn("setting", F.lit(setting))
                  .withColumn("threshold", F.lit(thr))
                  .withColumn("prediction", F.when(F.col("p_overturned") >= F.lit(thr), "Overturned")
                              .otherwise("Upheld")))
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        items = scored.filter(F.col(KIND) == "item").select(*batch.COLUMNS)
        items.write.mode("overwrite").parquet(out)
        s = Summary(command="predict", unit="items", out=out, errors_path=str(errors))
        tmp = errors.with_name(errors.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for e in unreadable:
                fh.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
                s.errors += 1
            for r in scored.filter(F.col(KIND) == "error").select(*ERROR_COLUMNS).toLocalIterator():
                fh.write(json.dumps(r.asDict(), ensure_ascii=False) + "\n")
                s.errors += 1
        os.replace(tmp, errors)
        counts = scored.groupBy(KIND).agg(F.count("*").alias("n"), F.countDistinct("source").alias("records")
                                          ).collect()
        by = {r[KIND]: r for r in counts}
        s.rows_out = int(by["item"]["n"]) if "item" in by else 0
        s.records_ok = int(by["item"]["records"]) if "item" in by else 0
        s.records_in = s.records_ok + s.errors
        scored.unpersist()
        s.seconds = time.perf_counter() - t0
        return s
    finally:
        if own:
            spark.stop()
