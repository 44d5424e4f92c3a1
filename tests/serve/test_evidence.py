"""`imr predict --explain` and `--similar K` on real letters: the evidence of a rationale model
sits in the reviewer's rationale, and similar past decisions never come from the item's own
letter (the leakage an index of the training corpus invites)."""
from __future__ import annotations

import json
import re

import pytest

from pipeline.classify import build
from pipeline.classify.config import read_config
from pipeline.classify.examples import letter_examples
from pipeline.classify.tracking import input_example, save_pyfunc
from pipeline.extract.records import letter_rows
from pipeline.io.sources import read_records
from pipeline.serve.explain import TOP, candidates, sentences
from pipeline.serve.similar import build as build_index

from ..conftest import LETTERS_TXT, ROOT, imr

pytestmark = pytest.mark.slow  # trains the rationale transformer on 110 letters

FILES = sorted(LETTERS_TXT.glob("*.txt"))


@pytest.fixture(scope="module")
def rationale_model(tmp_path_factory):
    """The rationale transformer of configs/transformer_rationale.yaml, fit on 110 letters (~1 min)."""
    letters = list(read_records(FILES[:110]))
    exs = letter_examples(letters, "rationale")
    cfg = read_config(ROOT / "configs" / "transformer_rationale.yaml")
    clf = build(cfg.kind, cfg.params).fit(exs)
    clf.info = {"domain": "dwc", "setting": "rationale", "model": "transformer"}
    d = tmp_path_factory.mktemp("evidence")
    return save_pyfunc(clf, d / "dwc-rationale", input_example(exs)), d


def _norm(s):
    return re.sub(r"\s+", " ", s).strip()


def test_sentences_and_the_bounded_candidates():
    text = "Item: MRI of the knee\nCase summary: A 40-year-old. She fell. Decision rationale: Not needed."
    assert sentences(text) == ["Item: MRI of the knee", "Case summary: A 40-year-old.", "She fell.",
                               "Decision rationale: Not needed."]
    assert candidates(["s"] * 12) == list(range(12))
    assert len(candidates(["s"] * 300)) == 40 and candidates(["s"] * 300)[-1] == 299


def test_rationale_evidence_is_the_reviewers_reason(rationale_model, tmp_path):
    model, _ = rationale_model
    out = tmp_path / "p.jsonl"
    proc = imr("predict", *map(str, FILES[110:125]), "--model", str(model), "--explain", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    explained = [r for r in rows if r["evidence"]]
    assert len(explained) >= 0.8 * len(rows)
    in_rationale = 0
    for r in explained:
        ev = r["evidence"]
        assert len(ev) <= TOP and [abs(e["delta"]) for e in ev] == sorted((abs(e["delta"]) for e in ev), reverse=True)
        top = _norm(ev[0]["text"]).removeprefix("Decision rationale: ")
        in_rationale += top in _norm(r["rationale"])
    assert in_rationale >= 0.7 * len(explained)  # the reviewer's reasoning, not the case history


def test_similar_decisions_never_come_from_the_items_own_letter(rationale_model, tmp_path):
    model, d = rationale_model
    letters = list(read_records(FILES[:125]))
    index = build_index([r for lt in letters for r in letter_rows(lt)], set(), d / "index")  # queries included
    out = tmp_path / "p.jsonl"
    proc = imr("predict", *map(str, FILES[110:125]), "--model", str(model), "--similar", "3", "--index",
               str(index), "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows and all(len(r["similar"]) == 3 for r in rows)
    for r in rows:
        assert r["case_number"] not in {s["case_number"] for s in r["similar"]}
        sims = [s["similarity"] for s in r["similar"]]
        assert sims == sorted(sims, reverse=True) and all(s["decision"] in ("Upheld", "Overturned") for s in r["similar"])
