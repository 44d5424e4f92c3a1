"""Classifier examples: the leakage guard, the settings' inputs, grouped folds, health-plan rows."""
from __future__ import annotations

import collections
import re

import pytest

from pipeline.classify import examples as E
from pipeline.io.schema import ParseError
from pipeline.io.sources import read_records

from ..conftest import LETTERS_TXT, RAW

# The verdict phrases, checked independently of the module's own list.
VERDICTS = ["upheld", "overturned", "medically necessary", "not medically necessary", "is certified",
            "is not certified", "maximus"]
HEALTH_PLAN = RAW / "imr_appeals_persius" / "case_backgrounds.csv"


@pytest.fixture(scope="module")
def letters():
    recs = [r for r in read_records(sorted(LETTERS_TXT.glob("*.txt"))) if not isinstance(r, ParseError)]
    assert len(recs) >= 150
    return recs


def _words(s):
    return re.findall(r"[a-z0-9]+", s.lower())


def _own_runs(rationale, public, n=8):
    w, pub = _words(rationale), " ".join(_words(public))
    return [" ".join(w[i:i + n]) for i in range(len(w) - n + 1) if " ".join(w[i:i + n]) not in pub]


def test_prior_inputs_hold_no_verdict_phrase_and_no_rationale(letters):
    exs = E.letter_examples(letters, "prior")
    assert len(exs) == sum(len(x.items) for x in letters) >= 370
    by_id = {f"{x.case_number}#{it.index}": (x, it) for x in letters for it in x.items}
    for ex in exs:
        low = ex.text.lower()
        for phrase in VERDICTS:
            assert phrase not in low, (ex.id, phrase)
        letter, it = by_id[ex.id]
        public = " ".join([it.item, it.claims_administrator_guideline or "", letter.case_summary or ""])
        text = " ".join(_words(ex.text))
        leaked = [r for r in _own_runs(it.rationale, public) if r in text]
        assert len(leaked) <= 2, (ex.id, leaked[:3])
        mx = " ".join(_words(it.maximus_guideline or ""))
        if len(mx) > 60 and mx not in " ".join(_words(public)):  # the MAXIMUS line's own text
            assert mx not in text, ex.id


@pytest.mark.parametrize("phrase", ["Upheld", "overturned", "is medically necessary",
                                    "was not medically necessary", "The request is certified",
                                    "MAXIMUS guideline: ODG", "Decision rationale: no"])
def test_guard_raises_on_verdict_phrases(phrase):
    with pytest.raises(E.LeakageError):
        E.assert_no_leak(f"Item: MRI of the knee\nCase summary: a worker. {phrase}.")


def test_guard_raises_on_rationale_text(letters):
    letter, it = next((x, it) for x in letters for it in x.items if len(it.rationale or "") > 400)
    base = E.prior_text(it.item, it.claims_administrator_guideline, letter.case_summary, it.rationale)
    public = " ".join([it.item, it.claims_administrator_guideline or "", letter.case_summary or ""])
    verdict_free = E.mask_verdicts(it.rationale)
    for leaked in (verdict_free, verdict_free[: len(verdict_free) // 2]):
        with pytest.raises(E.LeakageError):
            E.assert_no_leak(base + " " + leaked, it.rationale, public)
    assert E.assert_no_leak(base, it.rationale, public) == base


def test_builder_calls_the_guard(letters, monkeypatch):
    """A prior builder that stopped masking verdicts would raise, not leak."""
    monkeypatch.setattr(E, "mask_verdicts", lambda s: s)
    with pytest.raises(E.LeakageError):
        E.letter_examples(letters, "prior")


def test_mask_verdicts_keeps_the_utilization_review_denial():
    s = "The request was non-certified in UR. A prior review found it not medically necessary; Upheld."
    out = E.mask_verdicts(s)
    assert "non-certified" in out and "medically" not in out and "Upheld" not in out
    E.assert_no_leak(out)


def test_rationale_inputs_end_with_the_rationale(letters):
    exs = E.letter_examples(letters, "rationale")
    it = letters[0].items[0]
    assert exs[0].text.startswith(f"Item: {it.item}")
    assert exs[0].text.endswith(re.sub(r"\s+", " ", it.rationale).strip())
    assert collections.Counter(e.label for e in exs)[1] >= 30


def test_grouped_stratified_folds(letters):
    exs = E.assign_folds(E.letter_examples(letters, "prior"), k=5, seed=13)
    folds_of = collections.defaultdict(set)
    for e in exs:
        folds_of[e.group].add(e.fold)
    assert all(len(f) == 1 for f in folds_of.values())  # a letter never spans folds
    per_fold = collections.Counter(e.fold for e in exs)
    pos = collections.Counter(e.fold for e in exs if e.label == 1)
    assert set(per_fold) == set(range(5)) and all(pos[k] >= 3 for k in range(5))
    again = E.assign_folds(E.letter_examples(letters, "prior"), k=5, seed=13)
    assert [e.fold for e in again] == [e.fold for e in exs]


def test_health_plan_examples():
    exs = E.assign_folds(E.health_plan_examples(HEALTH_PLAN), k=5, seed=13)
    assert len(exs) == 1804 - 5  # outcome_stated_in_text rows dropped
    scored = [e for e in exs if e.scored]
    assert len(scored) == 965  # hard_case_subset = false (968) less its outcome-stated rows
    assert all(e.fold == -1 for e in exs if not e.scored)
    assert {e.fold for e in scored} == set(range(5))
    for e in exs:
        for phrase in ("upheld", "overturned", "medically necessary"):
            assert phrase not in e.text.lower()
