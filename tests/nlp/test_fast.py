"""The fast tagger (configs/tagger_fast.cfg): rules and vocabularies as NER features, the
merge of NER and rule entities, and its training end to end on a few letters and texts."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Span

from pipeline.nlp.build import build_nlp, load_tagger
from pipeline.nlp.features import FeatureHashEmbed, N_COLUMNS, feature_names, load_vocabularies
from pipeline.nlp.gold import dev_spans, load_texts
from pipeline.nlp.train import fast_config, train_fast_tagger, training_files

from ..conftest import SEED

LEXICON = {"drug": {"semaglutide": 1}, "icd": {"osteoporosis": 3}, "icd_head": {"osteoporosis": 3}}


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


def test_vocabularies_come_from_the_installed_packages():
    lex = load_vocabularies()
    assert lex["drug"].get("semaglutide") == 1 and "patient" not in lex["drug"]
    assert lex["icd_head"]["osteoporosis"] >= 2 and lex["icd_head"]["fracture"] > lex["icd_head"].get("knee", 0)


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
