"""The fast tagger (configs/tagger_fast.cfg): rules and vocabularies as NER features, the
merge of NER and rule entities, and its training end to end on a few letters and texts."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Span

from pipeline.nlp.build import build_nlp, load_tagger
from pipeline.nlp.features import (FeatureHashEmbed, N_COLUMNS, _sentences, feature_names,
                                   load_vocabularies, with_sentence_context)
from pipeline.nlp.gold import dev_spans, load_texts
from pipeline.nlp.train import fast_config, train_fast_tagger, training_files

from ..conftest import SEED

LEXICON = {"drug": {"semaglutide": 1}, "icd": {"osteoporosis": 3}, "icd_head": {"osteoporosis": 3},
           "icd_title": {"osteoporosis": 1, "carpal\ttunnel\tsyndrome": 1,
                         "carpal\ttunnel\tsyndrome\t,\tleft\tupper\tlimb": 1}}


@pytest.fixture(scope="module")
def featurizer():
    """Sections, the rules writing doc.spans["rules"], and the token features (a tiny lexicon)."""
    nlp = build_nlp()
    rules = nlp.get_pipe("imr_entity_rules")
    rules.spans_key = "rules"
    feats = nlp.add_pipe("imr_token_features", after="imr_entity_rules")
    feats.initialize(lexicon=LEXICON)
    return nlp


def test_rules_go_to_spans_not_ents_and_become_token_columns(featurizer):
    doc = featurizer("She takes Norco 10/325mg #60 and semaglutide per the MTUS guidelines; osteoporosis.")
    assert not doc.ents
    rules = {(s.text, s.label_) for s in doc.spans["rules"]}
    assert ("Norco 10/325mg #60", "TREATMENT") in rules and ("MTUS guidelines", "GUIDELINE") in rules
    assert doc._.features.shape == (len(doc), N_COLUMNS)
    names = dict(zip([t.text for t in doc], feature_names(doc)))
    assert names["Norco"] == "B-TREATMENT" and names["60"] == "I-TREATMENT" and names["takes"] == "O"
    drug = {t.text: doc._.features[t.i, 1] for t in doc}
    assert drug["semaglutide"] != drug["Norco"] == drug["takes"]
    icd = {t.text: doc._.features[t.i, 2] for t in doc}
    assert icd["osteoporosis"] != icd["takes"]


def test_icd10_titles_become_a_token_column_longest_match_first(featurizer):
    doc = featurizer("Diagnoses: carpal tunnel syndrome, left upper limb; carpal tunnel syndrome, knee.")
    col = doc._.features[:, 3]
    first = [t.i for t in doc if t.text == "carpal"]
    b, i, o = col[first[0]], col[first[0] + 1], col[0]
    assert len({b, i, o}) == 3
    # the whole ICD-10-CM title where it is written in full, the shorter one where it is not
    assert [t.text for t in doc if col[t.i] != o] == ["carpal", "tunnel", "syndrome", ",", "left", "upper",
                                                      "limb", "carpal", "tunnel", "syndrome"]
    assert col[first[1]] == b and col[first[1] + 3] == o  # "," after the second one is outside


def test_vocabularies_come_from_the_installed_packages():
    lex = load_vocabularies()
    assert lex["drug"].get("semaglutide") == 1 and "patient" not in lex["drug"]
    assert lex["icd_head"]["osteoporosis"] >= 2 and lex["icd_head"]["fracture"] > lex["icd_head"].get("knee", 0)
    titles = lex["icd_title"]
    assert "dorsalgia\t,\tunspecified" in titles and "carpal\ttunnel\tsyndrome\t,\tleft\tupper\tlimb" in titles
    # rule 9: the encounter descriptor is not part of the condition
    assert "sprain\tof\tunspecified\tligament\tof\tright\tankle" in titles
    assert len(titles) > 40000 and not any(t.endswith(("initial\tencounter", "subsequent\tencounter", "sequela"))
                                           for t in titles)


def test_entity_merge_label_by_label():
    nlp = spacy.blank("en")
    merge = nlp.add_pipe("imr_entity_merge", config={"ner_labels": ["DIAGNOSIS", "TREATMENT"],
                                                    "rules_first": ["GUIDELINE"], "rules_fill": ["DIAGNOSIS"]})
    doc = nlp.make_doc("lumbar strain treated with physical therapy per MTUS guidelines and knee sprain")
    doc.ents = [Span(doc, 1, 2, "DIAGNOSIS"), Span(doc, 4, 6, "TREATMENT"), Span(doc, 7, 8, "TREATMENT")]
    doc.spans["rules"] = [Span(doc, 0, 2, "DIAGNOSIS"), Span(doc, 7, 9, "GUIDELINE"),
                          Span(doc, 10, 12, "DIAGNOSIS"), Span(doc, 4, 5, "TREATMENT")]
    got = [(e.text, e.label_) for e in merge(doc).ents]
    # NER wins for its labels; GUIDELINE rules win over the NER; DIAGNOSIS rules fill gaps only;
    # TREATMENT rules are not used at all
    assert got == [("strain", "DIAGNOSIS"), ("physical therapy", "TREATMENT"),
                   ("MTUS guidelines", "GUIDELINE"), ("knee sprain", "DIAGNOSIS")]
    assert len(doc.spans["ner"]) == 3


def test_feature_embedding_reads_the_columns_and_runs_without_them(featurizer):
    model = FeatureHashEmbed(width=16, attrs=["NORM", "SHAPE"], rows=[100, 50], maxout_pieces=2)
    docs = [featurizer("Norco and semaglutide for osteoporosis."), spacy.blank("en")("no features here")]
    model.initialize(X=docs)
    out = model.predict(docs)
    assert [o.shape for o in out] == [(len(docs[0]), 16), (3, 16)]
    again = featurizer("Norco and semaglutide for osteoporosis.")
    again._.features = numpy.zeros_like(again._.features)
    assert not numpy.allclose(model.predict([again])[0], out[0])
    # the ICD-10-CM title column is read only when asked for (pipelines saved before it load)
    titled = FeatureHashEmbed(width=16, attrs=["NORM", "SHAPE"], rows=[100, 50], feature_columns=N_COLUMNS)
    titled.initialize(X=docs)
    untitled = featurizer("Norco and semaglutide for osteoporosis.")
    untitled._.features[:, 3] = 0
    assert numpy.allclose(model.predict([untitled])[0], out[0])
    assert not numpy.allclose(titled.predict([untitled])[0], titled.predict(docs[:1])[0])


def test_sentence_context_reaches_the_whole_sentence_and_no_further(featurizer):
    model = with_sentence_context(FeatureHashEmbed(width=16, attrs=["NORM", "SHAPE"], rows=[100, 50]),
                                  width=16, maxout_pieces=2)
    texts = ["Guidelines recommend NSAIDs for patients with knee osteoarthritis. The injured worker has lumbar strain.",
             "The worker has knee osteoarthritis today. The injured worker has lumbar strain."]
    docs = list(featurizer.pipe(texts))
    assert [len(list(d.sents)) for d in docs] == [2, 2]
    model.initialize(X=docs)
    a, b = model.predict(docs)
    oa = [next(t.i for t in d if t.text == "osteoarthritis") for d in docs]
    second = [list(d.sents)[1].start for d in docs]
    # "osteoarthritis" is the same token with another sentence around it: its vector differs
    assert not numpy.allclose(a[oa[0]], b[oa[1]], atol=1e-3)
    # the second sentence is the same in both docs, and so are its vectors
    assert numpy.allclose(a[second[0]:], b[second[1]:], atol=1e-6)


def test_sentence_ids_in_training_are_those_of_the_pipeline(featurizer, letter_files):
    for doc in featurizer.pipe(f.read_text(encoding="utf-8") for f in letter_files[:5]):
        bare = featurizer.make_doc(doc.text)  # a training doc: sections, no sentence starts
        bare._.sections = doc._.sections
        assert not bare.has_annotation("SENT_START")
        firsts, ids = _sentences(bare)
        assert ids.max() + 1 == len(firsts) == len(list(doc.sents)) > 20
        assert list(firsts) == [s.start for s in doc.sents] and (ids == _sentences(doc)[1]).all()


def test_sentence_context_gradient_matches_finite_differences():
    from thinc.api import Model, fix_random_seed

    fix_random_seed(0)
    doc = spacy.blank("en")("Knee pain . Guidelines recommend rest")
    doc[0].is_sent_start, doc[3].is_sent_start = True, True
    x = numpy.random.default_rng(0).normal(size=(len(doc), 4)).astype("float32")
    got = {}

    def forward(model, docs, is_train):
        def backprop(dxs):
            got["dx"] = dxs[0]
            return []
        return [model.ops.asarray2f(model.attrs["x"])], backprop

    inner = Model("fixed", forward, attrs={"x": x})
    model = with_sentence_context(inner, 4, maxout_pieces=2)
    model.initialize()
    weights = numpy.random.default_rng(1).normal(size=(len(doc), 4)).astype("float32")

    def loss(x_):
        inner.attrs["x"] = x_
        return float((model.predict([doc])[0] * weights).sum())

    inner.attrs["x"] = x
    _, backprop = model([doc], is_train=True)
    backprop([model.ops.asarray2f(weights)])
    eps = 1e-3
    for i, j in [(0, 0), (1, 3), (3, 1), (5, 2)]:
        up, down = x.copy(), x.copy()
        up[i, j] += eps
        down[i, j] -= eps
        assert abs((loss(up) - loss(down)) / (2 * eps) - got["dx"][i, j]) < 1e-2


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    """The fast tagger trained end to end for a few steps on 3 dev letters, the seed letter
    and 6 health-plan train texts."""
    tmp = tmp_path_factory.mktemp("fast")
    hand = dev_spans()
    files = [f for f in training_files() if f.stem in hand][:3] + [SEED]
    info = train_fast_tagger(tmp / "model", tmp / "corpus", files=files, texts=load_texts("train")[:6],
                             overrides={"training.max_steps": 4, "training.eval_frequency": 2})
    return {**info, "corpus": tmp / "corpus"}


def test_fast_tagger_trains_saves_and_loads(fast_model, tmp_path):
    repeat = spacy.util.load_config(fast_config())["imr"]["texts_repeat"]
    assert fast_model["docs"]["texts"] == 6 * repeat and fast_model["docs"]["hand_letters"] == 3
    nlp = load_tagger(fast_model["model"])
    assert nlp.pipe_names == ["imr_sections", "imr_sentences", "imr_entity_rules", "imr_token_features",
                              "tok2vec", "ner", "imr_entity_merge", "imr_negation", "imr_guidelines"]
    # the NER of spaCy's last step, not a checkpoint ranked on the small (silver) dev corpus
    last = fast_model["corpus"] / "fast-training" / "model-last"
    assert (Path(fast_model["model"]) / "ner" / "model").read_bytes() == (last / "ner" / "model").read_bytes()
    assert nlp.get_pipe("imr_token_features").lexicon["drug"]  # the vocabularies travel with it
    text = SEED.read_text(encoding="utf-8")
    doc = nlp(text)
    guidelines = {(s.start, s.end) for s in doc.spans["rules"] if s.label_ == "GUIDELINE"}
    assert guidelines and guidelines <= {(e.start, e.end) for e in doc.ents if e.label_ == "GUIDELINE"}
    assert doc._.items is not None and doc._.sections
    nlp.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")

    def view(d):
        return [(e.start_char, e.end_char, e.label_, e._.negated) for e in d.ents]

    assert view(again(text)) == view(doc)
    # the reloaded pipeline's columns come from the real vocabularies saved with it
    probe = again("Gabapentin was denied for lumbar radiculopathy with the patient.")
    assert probe._.features.shape == (len(probe), N_COLUMNS)
    drug = {t.lower_: probe._.features[t.i, 1] for t in probe}
    icd = {t.lower_: probe._.features[t.i, 2] for t in probe}
    assert drug["gabapentin"] != drug["radiculopathy"] == drug["was"]
    assert icd["radiculopathy"] != icd["denied"] and icd["radiculopathy"] != icd["gabapentin"]
    listed = again("Diagnoses: dorsalgia, unspecified; right knee pain.")
    title = {t.text: listed._.features[t.i, 3] for t in listed}
    assert title["dorsalgia"] != title[","] == title["unspecified"] != title["Diagnoses"]
