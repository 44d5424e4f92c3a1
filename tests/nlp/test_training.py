"""The training corpus (hand labels, silver letters), NER training, `imr tag`, and the rules' gold scores."""
from __future__ import annotations

import json
from collections import Counter

import pytest
import spacy
from spacy.tokens import DocBin

from pipeline.nlp.build import build_nlp
from pipeline.nlp.gold import dev_dir, dev_spans, letter_text, load_gold
from pipeline.nlp.score import evaluate, score_spans, span_errors
from pipeline.nlp.train import hand_label, make_corpus, section_docs, training_files

from ..conftest import LETTERS_TXT, SEED, imr

LABELS = {"DIAGNOSIS", "TREATMENT", "GUIDELINE"}


def test_gold_letters_never_train():
    gold = set(load_gold())
    assert len(gold) >= 30
    files = training_files()
    assert files and not {f.stem for f in files} & gold
    assert not any(any(case in f.read_text()[:400] for case in gold) for f in files)
    assert len(files) == len(list(LETTERS_TXT.glob("*.txt"))) - len(gold) + 1  # + the seed letter


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


# A regression guard for the rules (the GUIDELINE of both trained configurations, and what
# `imr tag` runs without a trained tagger), a little below their gold scores (GUIDELINE 0.959,
# TREATMENT 0.704, DIAGNOSIS 0.718; rules tuned on data/dev only, never on gold). The trained
# taggers' gold scores are `make run`'s reports/tagger_scores.json.
RULES_GOLD_FLOORS = {"GUIDELINE": 0.94, "TREATMENT": 0.68, "DIAGNOSIS": 0.70}


def test_rules_gold_scores_do_not_regress():
    scores = evaluate(build_nlp())
    assert scores["_letters"] >= 30
    for label, floor in RULES_GOLD_FLOORS.items():
        assert scores[label]["exact"]["f1"] >= floor, (label, scores[label])


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
