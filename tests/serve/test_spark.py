"""`imr predict --engine spark` (pipeline/serve/spark.py) in Spark local mode: the same rows,
errors and predictions as the local engine on the same letters."""
from __future__ import annotations

import shutil

import pytest

from ..conftest import LETTERS_TXT, SEED, keyed

pytestmark = pytest.mark.slow  # starts a local Spark


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark") / "inbox"
    d.mkdir()
    for f in sorted(LETTERS_TXT.glob("*.txt"))[::30]:
        shutil.copy(f, d / f.name)
    shutil.copy(SEED, d / "seed.txt")
    (d / "empty.txt").write_text("")
    (d / "minutes.txt").write_text("Minutes of the board meeting.\nAll present.\n")
    seed = SEED.read_text()
    (d / "truncated.txt").write_text(seed[: seed.index("no plan for weaning")])
    return d


def test_spark_local_equals_local_engine(inbox, tiny_model, tiny_scorer, tmp_path):
    import json

    from pipeline.serve.batch import COLUMNS, predict, read_predictions as read_rows
    from pipeline.serve.spark import predict_spark

    local = predict([inbox], tiny_scorer, tmp_path / "local.parquet", quiet=True)
    s = predict_spark([str(inbox)], str(tiny_model), tmp_path / "spark.parquet", master="local[2]")
    assert (tmp_path / "spark.parquet" / "_SUCCESS").exists()
    assert (s.records_in, s.records_ok, s.rows_out, s.errors) == \
        (local.records_in, local.records_ok, local.rows_out, local.errors) == (10, 7, s.rows_out, 3)
    a, b = keyed(read_rows(tmp_path / "spark.parquet")), keyed(read_rows(tmp_path / "local.parquet"))
    assert a.keys() == b.keys() and len(a) == s.rows_out
    for k in b:
        assert list(a[k]) == list(COLUMNS)
        assert a[k]["prediction"] == b[k]["prediction"]
        assert abs(a[k]["p_overturned"] - b[k]["p_overturned"]) < 1e-5
        assert {c: a[k][c] for c in COLUMNS if c != "p_overturned"} == \
            {c: b[k][c] for c in COLUMNS if c != "p_overturned"}
    # imr extract --engine spark: the same item rows without the scores
    from pipeline.serve.spark import run_spark

    x = run_spark("extract", [str(inbox)], tmp_path / "items.parquet", master="local[2]")
    items = keyed(read_rows(tmp_path / "items.parquet"))
    assert (x.records_in, x.rows_out) == (s.records_in, s.rows_out) and items.keys() == a.keys()
    for k in items:
        assert {c: items[k][c] for c in items[k]} == {c: a[k][c] for c in items[k]}
    errs = lambda p: sorted((e["source"], e["code"]) for e in map(json.loads, p.read_text().splitlines()))  # noqa: E731
    assert errs(tmp_path / "spark.errors.jsonl") == errs(tmp_path / "local.errors.jsonl")
    assert {c for _, c in errs(tmp_path / "spark.errors.jsonl")} == {"empty-file", "not-an-imr-letter",
                                                                     "truncated"}
