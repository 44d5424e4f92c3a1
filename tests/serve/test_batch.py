"""`imr predict` batch jobs (pipeline/serve/batch.py on pipeline/io/jobs.py): exact counts on a
mixed folder, resume after SIGKILL with no duplicates and no losses, the three output formats."""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.extract.records import ITEM_FIELDS
from pipeline.io.jobs import Job, JobMismatch, Parts
from pipeline.io.sources import read_records
from pipeline.nlp.build import build_nlp
from pipeline.serve.batch import COLUMNS, predict, predict_batch, read_predictions
from pipeline.serve.scorers import FunctionScorer

from ..conftest import DMHC_SAMPLE, ENV, EXPECTED_ERRORS, ROOT, imr, keyed, letters_folder


def test_mixed_folder_exact_counts(mixed_folder, tiny_model, tmp_path):
    out = tmp_path / "preds.jsonl"
    proc = imr("predict", str(mixed_folder), "--model", str(tiny_model), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [json.loads(x) for x in (tmp_path / "preds.errors.jsonl").read_text().splitlines()]
    assert "predict: 10 records in = 4 with output + 6 with errors; 15 items out" in proc.stderr
    assert "record/s" in proc.stderr  # the progress bar
    assert {e["source"].rsplit("/", 1)[-1]: e["code"] for e in errors} == EXPECTED_ERRORS
    assert all(e["message"] and e["stage"] == "parse" for e in errors)
    assert len(rows) == 15 and len({(r["source"], r["index"]) for r in rows}) == 15
    assert sorted(collections.Counter(r["source"] for r in rows).values()) == [1, 2, 2, 10]
    r = rows[0]
    assert list(r) == list(COLUMNS) and set(COLUMNS) >= {f.name for f in ITEM_FIELDS}
    assert r["setting"] == "prior" and 0.0 <= r["p_overturned"] <= 1.0
    assert r["prediction"] == ("Overturned" if r["p_overturned"] >= r["threshold"] else "Upheld")
    assert any(c["source"] in ("MTUS", "ODG", "ACOEM") for x in rows for c in x["maximus_guidelines"])
    # the undecided item is scored too: a prior model never reads the decision
    pending = [x for x in rows if x["source"].endswith("pending.txt")]
    assert [(x["decision"], x["decision_word"]) for x in pending] == [("Upheld", None), (None, "Pending")]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.parts"))


def test_resume_after_sigkill_no_duplicates_no_losses(tmp_path, tiny_model, tiny_scorer):
    d = letters_folder(tmp_path / "in", 40)
    (d / "zz_empty.txt").write_text("")
    out = tmp_path / "preds.jsonl"
    parts = tmp_path / "preds.jsonl.parts"
    args = ["predict", str(d), "--model", str(tiny_model), "--out", str(out), "--batch-letters", "1", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list(parts.glob("part-*.jsonl"))) < 3:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(parts.glob("part-*.jsonl")))
    assert 3 <= done_at_kill < 41
    assert not out.exists()  # never half-written

    proc2 = imr(*args)
    assert proc2.returncode == 0, proc2.stderr
    assert "41 records in = 40 with output + 1 with errors" in proc2.stderr
    assert f"{done_at_kill} resumed from an earlier run" in proc2.stderr
    assert "%|" not in proc2.stderr and "record/s]" not in proc2.stderr  # --quiet: no progress bars
    assert not parts.exists()
    resumed = read_predictions(out)

    ref = predict([d], tiny_scorer, tmp_path / "ref.jsonl", quiet=True)
    expected = read_predictions(tmp_path / "ref.jsonl")
    assert len(resumed) == len(keyed(resumed)), "an item was written twice"
    assert keyed(resumed).keys() == keyed(expected).keys(), "items lost or invented"
    assert len(resumed) == ref.rows_out
    for k, r in keyed(expected).items():
        assert keyed(resumed)[k]["prediction"] == r["prediction"]
        assert abs(keyed(resumed)[k]["p_overturned"] - r["p_overturned"]) < 1e-5
    assert [json.loads(x)["source"] for x in (tmp_path / "preds.errors.jsonl").read_text().splitlines()] \
        == [str(d / "zz_empty.txt")]


def test_resume_skips_done_records_and_guards_the_job(tmp_path):
    """A rerun scores only what is left; another model's leftovers are refused."""
    d = letters_folder(tmp_path / "in", 6)
    seen: list[str] = []

    def fn(texts):
        seen.extend(texts)
        return [0.9] * len(texts)

    sc = FunctionScorer(fn, setting="prior", name="const")
    out = tmp_path / "o.jsonl"
    job = Job("predict", out, identity={"model": "const", "setting": "prior", "threshold": 0.5, "model_ref": "const",
                                        "tagger": "default", "explain": False, "similar": 0})
    identity = {**job.identity, "command": "predict", "format": "jsonl", "inputs": [str(d)],
                "errors": str(tmp_path / "o.errors.jsonl")}
    parts = Parts(out, identity)  # an interrupted run that finished 2 letters
    recs = list(read_records(sorted(d.iterdir())))[:2]
    rows, _ = predict_batch(sc, build_nlp(), recs)
    parts.write([r.source for r in recs], rows, [])
    parts.release()
    n_first = len(seen)
    with pytest.raises(JobMismatch):
        predict([d], FunctionScorer(fn, setting="prior", name="other"), out, quiet=True)
    s = predict([d], sc, out, quiet=True)
    assert s.records_in == 6 and s.resumed == 2 and s.records_ok == 6
    assert len(seen) - n_first == s.rows_out - len(rows)
    assert len(read_predictions(out)) == s.rows_out


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_formats_hold_the_same_rows(tmp_path, fmt, tiny_scorer):
    d = letters_folder(tmp_path / "in", 3)
    s = predict([d, DMHC_SAMPLE], tiny_scorer, tmp_path / f"o.{fmt}", quiet=True)
    rows = read_predictions(tmp_path / f"o.{fmt}")
    assert s.records_in == 3 + 20 == s.records_ok + s.errors
    assert len(rows) == s.rows_out and list(rows[0]) == list(COLUMNS)
    dmhc = [r for r in rows if r["layout"] == "dmhc-csv"]
    assert len(dmhc) == 20 and all(r["source"].startswith(str(DMHC_SAMPLE) + ":") for r in dmhc)
    ref_path = tmp_path / "ref.jsonl"
    predict([d, DMHC_SAMPLE], tiny_scorer, ref_path, quiet=True, batch_letters=7)
    ref = keyed(read_predictions(ref_path))
    for k, r in keyed(rows).items():
        assert r["prediction"] == ref[k]["prediction"] and r["item"] == ref[k]["item"]
        assert r["maximus_guidelines"] == ref[k]["maximus_guidelines"]


def test_id_text_rows_get_one_prediction_each(tmp_path, tiny_scorer):
    f = tmp_path / "rows.csv"
    f.write_text("id,text\na1,Lumbar MRI requested after six weeks of back pain.\n"
                 "a2,The request was overturned on review.\n")
    s = predict([f], tiny_scorer, tmp_path / "o.jsonl", quiet=True)
    rows = read_predictions(tmp_path / "o.jsonl")
    assert (s.records_in, s.rows_out, s.errors) == (2, 2, 0)
    assert [r["id"] for r in rows] == ["a1", "a2"] and rows[0]["index"] is None
    assert rows[1]["source"] == f"{f}:3" and rows[1]["prediction"] in ("Upheld", "Overturned")
