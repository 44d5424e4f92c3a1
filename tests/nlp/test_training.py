"""NER training on silver labels, the saved pipeline, `imr tag`, and the gold scores."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import spacy
from spacy.tokens import DocBin

from pipeline.nlp.build import build_nlp
from pipeline.nlp.gold import dev_dir, dev_spans, letter_text, load_gold
from pipeline.nlp.score import evaluate, score_spans, span_errors
from pipeline.nlp.train import (default_rule_predictions, crossfit_ner, hand_label, make_corpus, section_docs,
                                 train_ner, train_refiner,
                                 training_files)
from pipeline.io.records import read_jsonl

from ..conftest import LETTERS_TXT, SEED, imr

LABELS = {"DIAGNOSIS", "TREATMENT", "GUIDELINE"}


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A NER trained for a few steps on the silver corpus of 6 non-gold letters (~30 s)."""
    tmp = tmp_path_factory.mktemp("ner")
    files = training_files()[:6]
    counts = make_corpus(files, tmp / "corpus")
    best = train_ner(tmp / "train", tmp / "corpus",
                     overrides={"training.max_steps": 6, "training.eval_frequency": 3})
    return {"counts": counts, "ner": best, "corpus": tmp / "corpus"}


def test_gold_letters_never_train():
    gold = set(load_gold())
    assert len(gold) >= 30
    files = training_files()
    assert files and not {f.stem for f in files} & gold
    assert not any(any(case in f.read_text()[:400] for case in gold) for f in files)
    assert len(files) == len(list(LETTERS_TXT.glob("*.txt"))) - len(gold) + 1  # + the seed letter


def test_silver_corpus_and_one_batch_training(small_model):
    assert small_model["counts"]["train"] > 10 and small_model["counts"]["dev"] > 0
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(small_model["corpus"] / "train.spacy").get_docs(nlp.vocab))
    assert {e.label_ for d in docs for e in d.ents} == LABELS
    ner = spacy.load(small_model["ner"])
    assert ner.pipe_names == ["tok2vec", "ner"]
    assert set(ner.get_pipe("ner").labels) == LABELS


def test_save_load_round_trip(small_model, tmp_path):
    nlp = build_nlp(ner=small_model["ner"])
    assert nlp.pipe_names.index("ner") < nlp.pipe_names.index("imr_entity_rules")
    nlp.to_disk(tmp_path / "tagger")
    again = spacy.load(tmp_path / "tagger")
    assert again.pipe_names == nlp.pipe_names
    texts = [f.read_text(encoding="utf-8") for f in sorted(LETTERS_TXT.glob("*.txt"))[40:44]]

    def view(doc):
        return ([(e.start_char, e.end_char, e.label_, e._.section, e._.negated) for e in doc.ents],
                doc._.sections, doc._.items, [s.start for s in doc.sents])

    assert [view(d) for d in nlp.pipe(texts)] == [view(d) for d in again.pipe(texts)]
    # and batched equals one by one with the NER in the pipeline too
    assert [view(d) for d in again.pipe(texts, batch_size=3)] == [view(again(t)) for t in texts]


def test_tag_cli_mixed_folder(mixed_folder, tmp_path):  # noqa: F811
    out, errs = tmp_path / "tagged.jsonl", tmp_path / "errors.jsonl"
    proc = imr("tag", str(mixed_folder), "--out", str(out), "--errors", str(errs))
    assert proc.returncode == 0, proc.stderr
    letters = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [json.loads(x) for x in errs.read_text().splitlines()]
    assert len(letters) == 4 and len(errors) == 6
    assert "tag: 10 records in = 4 with output + 6 with errors" in proc.stderr
    for rec in letters:
        assert set(rec) >= {"case_number", "source", "entities", "items"}
        assert rec["entities"]
        for e in rec["entities"]:
            assert set(e) >= {"label", "text", "start", "end", "section", "negated"}
            assert e["label"] in LABELS
        for it in rec["items"]:
            for g in it["claims_administrator_guideline"] + it["maximus_guideline"]:
                assert g["source"] in {"MTUS", "ACOEM", "ODG", "other"}
    seed = next(r for r in letters if r["source"].endswith("good1.txt"))
    text = (mixed_folder / "good1.txt").read_text()
    assert all(text[e["start"]:e["end"]] == e["text"] for e in seed["entities"])


def test_dev_set_is_hand_labelled_and_disjoint_from_gold():
    dev, gold = dev_spans(), set(load_gold())
    assert len(dev) >= 123 and sum(map(len, dev.values())) >= 4100
    assert not set(dev) & gold
    for case, spans in dev.items():
        text = letter_text(case)
        assert all(" ".join(text[s["start"]:s["end"]].split()) == " ".join(s["text"].split())
                   for s in spans)
    # the dev letters are training letters (their hand labels replace the silver ones)
    assert set(dev) <= {f.stem for f in training_files()}


def test_corpus_takes_hand_labels_for_dev_letters(tmp_path):
    case = sorted(dev_spans())[0]
    files = [f for f in training_files() if f.stem == case]
    counts = make_corpus(files, tmp_path, dev_share=0.0)
    assert counts["hand_letters"] == 1
    docs = list(DocBin().from_disk(tmp_path / "train.spacy").get_docs(spacy.blank("en").vocab))
    got = {(" ".join(e.text.split()), e.label_) for d in docs for e in d.ents}
    want = {(" ".join(s["text"].split()), s["label"]) for s in dev_spans()[case]}
    assert got and got <= want and len(got) >= 0.9 * len(want)
    held = make_corpus(files, tmp_path / "held", dev_share=0.0, holdout={case})
    assert held["hand_letters"] == 0


def test_every_hand_labelled_letter_trains(tmp_path):
    """The dev split (spaCy's progress display) takes silver letters, never hand-labelled
    ones: those are the only real labels (the split used to put the hand-labelled letters
    beyond the few silver ones into dev, out of training: 11 of the 123)."""
    hand = dev_spans()
    files = [f for f in training_files() if f.stem in hand][:20] + [SEED]
    make_corpus(files, tmp_path)  # dev_share 0.1 of 21 letters: 2 dev letters, 1 silver
    vocab, nlp = spacy.blank("en").vocab, build_nlp()
    read = {split: list(DocBin().from_disk(tmp_path / f"{split}.spacy").get_docs(vocab))
            for split in ("train", "dev")}
    seed_text = " ".join(SEED.read_text(encoding="utf-8").split())
    assert read["dev"] and all(" ".join(d.text.split()) in seed_text for d in read["dev"])
    want = Counter()
    for f, doc in zip(files[:-1], nlp.pipe(f.read_text(encoding="utf-8") for f in files[:-1])):
        want.update(e.label_ for d in section_docs(hand_label(doc, hand[f.stem])) for e in d.ents)
    got = Counter(e.label_ for d in read["train"] for e in d.ents)
    for label, n in want.items():
        assert got[label] >= n, (label, got[label], n)


def test_ner_is_the_last_step_not_a_checkpoint_chosen_on_dev(small_model):
    """The dev corpus is silver (or a training letter): it cannot choose among checkpoints."""
    assert small_model["ner"].name == "model-last"


def test_error_listing_kinds():
    text = "x" * 60
    pred = [(0, 5, "TREATMENT"), (10, 20, "TREATMENT"), (30, 35, "GUIDELINE"), (50, 55, "DIAGNOSIS")]
    gold = [(0, 5, "TREATMENT"), (12, 20, "TREATMENT"), (40, 45, "GUIDELINE"), (50, 55, "TREATMENT")]
    kinds = sorted((e["kind"], e["label"]) for e in span_errors("c", text, pred, gold))
    assert kinds == [("boundary", "TREATMENT"), ("label", "TREATMENT"), ("missed", "GUIDELINE"),
                     ("spurious", "GUIDELINE")]


def test_evaluate_tagger_dev_set_and_no_gold_error_listing():
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["evaluate-tagger", "--set", "gold", "--errors", "--no-mlflow"])
    assert res.exit_code != 0  # the gold set is scored, never listed
    res = runner.invoke(app, ["evaluate-tagger", "--gold", str(dev_dir() / "annotations_part1.jsonl"),
                              "--errors", "--no-mlflow"])
    assert res.exit_code == 0, res.output
    assert "TREATMENT" in res.output and "== boundary (" in res.output and "== missed (" in res.output


def test_scoring_exact_and_overlap():
    pred = [(0, 5, "TREATMENT"), (10, 20, "TREATMENT"), (30, 35, "GUIDELINE")]
    gold = [(0, 5, "TREATMENT"), (12, 20, "TREATMENT"), (40, 45, "GUIDELINE")]
    s = score_spans([(pred, gold)])
    assert s["TREATMENT"]["exact"] == {"p": 0.5, "r": 0.5, "f1": 0.5}
    assert s["TREATMENT"]["overlap"] == {"p": 1.0, "r": 1.0, "f1": 1.0}
    assert s["GUIDELINE"]["exact"]["f1"] == 0.0


# The floors of the issue (exact span): GUIDELINE >= 0.95, TREATMENT >= 0.80, DIAGNOSIS >= 0.80.
# Scored with the rules + the span refiner fitted on the dev letters (as `imr train-tagger`
# does, ~1 min), without the NER (no NER training in CI), so the refiner has no NER features
# here. The trained tagger (`imr evaluate-tagger --model models/tagger`, reports/
# tagger_scores.json) adds them for TREATMENT; the NER's own entities never enter doc.ents
# (ner_fill = [], ner_boundaries = []: on held-out dev letters they lowered exact-span F1).
ISSUE_FLOORS = {"GUIDELINE": 0.95, "TREATMENT": 0.80, "DIAGNOSIS": 0.80}
# A regression guard a little below the gold scores measured this way (GUIDELINE 0.959,
# TREATMENT 0.754, DIAGNOSIS 0.747; rules tuned and refiner fitted on data/dev only, never gold).
REGRESSION_FLOORS = {"GUIDELINE": 0.94, "TREATMENT": 0.73, "DIAGNOSIS": 0.72}


@pytest.fixture(scope="session")
def refined():
    """The rules pipeline with its span refiner fitted on all dev letters, and the fit stats."""
    nlp = build_nlp()
    return nlp, train_refiner(nlp)


@pytest.fixture(scope="session")
def gold_scores(refined):
    return evaluate(refined[0])


def test_span_refiner_is_fitted_on_dev_letters_and_earlier_rule_versions(refined):
    nlp, stats = refined
    n_frozen = sum(1 for _ in read_jsonl(default_rule_predictions()))
    assert n_frozen >= 200
    assert stats["docs"] == len(dev_spans()) + n_frozen
    assert stats["candidates"] > 20 * stats["positives"] > 20 * 3000
    assert nlp.get_pipe("imr_span_refiner").coef is not None


def test_untrained_span_refiner_changes_nothing():
    nlp = build_nlp()
    texts = [f.read_text(encoding="utf-8") for f in sorted(LETTERS_TXT.glob("*.txt"))[10:14]]
    with nlp.select_pipes(disable=["imr_span_refiner"]):
        want = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)] == want


def test_span_refiner_redraws_and_drops_rule_spans_and_round_trips(refined, tmp_path):
    nlp = refined[0]
    texts = [letter_text(c) for c in sorted(load_gold())[:6]]  # scored only, never listed
    with nlp.select_pipes(disable=["imr_span_refiner"]):
        rule_docs = list(nlp.pipe(texts))
    rules = [{(e.start_char, e.end_char, e.label_) for e in d.ents} for d in rule_docs]
    refined_ents = [{(e.start_char, e.end_char, e.label_) for e in d.ents} for d in nlp.pipe(texts)]
    changed = [r ^ f for r, f in zip(rules, refined_ents)]
    assert any(changed)
    assert all(lab in {"DIAGNOSIS", "TREATMENT"} for ch in changed for _, _, lab in ch)
    # header and negated entities are left alone
    for before, after in zip(rule_docs, refined_ents):
        kept = {(e.start_char, e.end_char, e.label_) for e in before.ents
                if e._.section == "header" or e._.negated}
        assert kept <= after
    nlp.to_disk(tmp_path / "tagger")
    again = spacy.load(tmp_path / "tagger")
    assert [{(e.start_char, e.end_char, e.label_) for e in d.ents} for d in again.pipe(texts)] == refined_ents


def test_crossfit_ner_tags_each_letter_with_a_ner_that_never_saw_it(small_model, tmp_path):
    hand = dict(sorted(dev_spans().items())[:4])
    files = [f for f in training_files() if f.stem in hand]
    spans = crossfit_ner(files, hand, tmp_path, overrides={"training.max_steps": 4,
                                                           "training.eval_frequency": 2})
    assert set(spans) == set(hand)
    vocab, rules = spacy.blank("en").vocab, build_nlp()
    summaries = {}
    for case in hand:
        text = letter_text(case)
        _, start, end, _ = next(s for s in rules(text)._.sections if s[0] == "case_summary")
        summaries[case] = " ".join(text[start:end].split())[:200]
    for k in range(2):
        held = sorted(hand)[k::2]
        seen = " ".join(" ".join(d.text.split()) for split in ("train", "dev") for d in
                        DocBin().from_disk(tmp_path / f"ner-crossfit-{k}" / f"{split}.spacy").get_docs(vocab))
        for case in hand:
            # a letter's case summary is in its fold's corpus only if the letter was not held out
            assert (summaries[case] in seen) == (case not in held), (k, case)
    # a refiner next to a trained NER must be given cross-fitted NER entities
    with pytest.raises(ValueError, match="cross-fitted"):
        train_refiner(build_nlp(ner=small_model["ner"]), hand=hand)


def test_span_refiner_reads_the_ner_entities_for_treatment_only():
    from pipeline.nlp.refiner import candidate_rows

    nlp = build_nlp()
    case, spans = sorted(dev_spans().items())[0]
    doc = nlp(letter_text(case))
    # stand in for the NER: the letter's hand-labelled spans on doc.spans["ner"]
    doc.spans["ner"] = [doc.char_span(s["start"], s["end"], label=s["label"]) for s in spans
                        if doc.char_span(s["start"], s["end"]) is not None]
    ner = {(e.start_char, e.end_char, e.label_) for e in doc.spans["ner"]}
    assert len(ner) > 10
    mentions = [(e.start_char, e.end_char, e.label_, e._.section) for e in doc.ents]
    rows, feats = candidate_rows(doc, mentions, {"DIAGNOSIS", "TREATMENT"},
                                 nlp.get_pipe("imr_span_refiner").ner_labels)
    assert {lab for *_, lab in rows} == {"DIAGNOSIS", "TREATMENT"}
    for (_, a, b, lab), f in zip(rows, feats):
        tags = [x for x in f if x.startswith("ner=")]
        if lab == "DIAGNOSIS":
            assert not tags
        else:
            assert (f"ner=exact|{lab}" in tags) == ((a, b, lab) in ner), (a, b)
    assert any("ner=exact|TREATMENT" in f for f in feats)


def test_gold_scores_do_not_regress(gold_scores):
    assert gold_scores["_letters"] >= 30
    for label, floor in REGRESSION_FLOORS.items():
        assert gold_scores[label]["exact"]["f1"] >= floor, (label, gold_scores[label])


def test_guideline_meets_the_issue_floor(gold_scores):
    assert gold_scores["GUIDELINE"]["exact"]["f1"] >= ISSUE_FLOORS["GUIDELINE"], gold_scores["GUIDELINE"]


@pytest.mark.xfail(strict=True, reason="TREATMENT / DIAGNOSIS exact-span F1 on gold are below the "
                                       "issue's 0.80 floors (measured here 0.754 / 0.747; the trained "
                                       "tagger with NER features 0.774 / 0.739): open work")
@pytest.mark.parametrize("label", ["TREATMENT", "DIAGNOSIS"])
def test_issue_floors_not_met_yet(gold_scores, label):
    assert gold_scores[label]["exact"]["f1"] >= ISSUE_FLOORS[label], gold_scores[label]


@pytest.fixture(scope="session")
def dev_scores():
    return evaluate(build_nlp(), [dev_dir()])


def test_dev_scores_do_not_regress(dev_scores):
    """The rules alone on the development set they are tuned on, 123 letters (measured
    0.738 / 0.816 / 0.966)."""
    assert dev_scores["_letters"] >= 123
    floors = {"DIAGNOSIS": 0.72, "TREATMENT": 0.80, "GUIDELINE": 0.95}
    for label, floor in floors.items():
        assert dev_scores[label]["exact"]["f1"] >= floor, (label, dev_scores[label])
