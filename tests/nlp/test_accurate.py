"""The accurate tagger (``pipeline_accurate.cfg``): trained end to end on real dev letters with
the small encoder and a tiny head, saved, loaded back by ``spacy.load`` and `load_tagger`."""
from __future__ import annotations

import pytest
import spacy
import torch

from pipeline.encoders import MINILM
from pipeline.nlp.build import load_tagger
from pipeline.nlp.gold import dev_spans, letter_text
from pipeline.nlp.tag import has_header
from pipeline.nlp.train_transformer import COMPONENT, build_accurate, train_transformer
from pipeline.nlp.transformer_ner import tagged_words

SMALL = {f"components.{COMPONENT}.{k}": v for k, v in {
    "encoder": MINILM, "layers": [2, 4, 6], "max_length": 128, "stride": 96,
    "proj": 32, "hidden": 32, "dropout": 0.0, "n_heads": 2, "outside_bias": 0.0}.items()}


def ents(doc, labels=("DIAGNOSIS", "TREATMENT", "GUIDELINE")):
    return [(e.start, e.end, e.label_) for e in doc.ents if e.label_ in labels]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The 3 shortest hand-labelled dev letters train; the next one is tagged."""
    torch.set_num_threads(1)
    spans = dev_spans()
    cases = sorted(spans, key=lambda c: len(letter_text(c)))[:4]
    folder = tmp_path_factory.mktemp("accurate") / "tagger"
    report = train_transformer(folder, items=[(letter_text(c), spans[c]) for c in cases[:3]],
                               overrides=SMALL, epochs=40, lr=2e-2)
    return {"report": report, "folder": folder, "text": letter_text(cases[3])}


def test_untrained_component_keeps_the_rules_entities(trained):
    nlp = build_accurate(overrides=SMALL)
    doc = nlp(trained["text"])
    with nlp.select_pipes(disable=[COMPONENT]):
        rules = nlp(trained["text"])
    assert ents(doc) == ents(rules) and ents(rules)


def test_training_lowers_the_loss(trained):
    per_head = trained["report"]["losses"]
    assert len(per_head) == 2
    for losses in per_head:
        assert len(losses) == 40 and losses[-1] < 0.7 * losses[0]
    assert per_head[0] != per_head[1], "each head trains from its own seed"


def test_saved_pipeline_round_trips(trained):
    folder = trained["folder"]
    assert (folder / COMPONENT / "encoder" / "config.json").exists()
    assert (folder / COMPONENT / "head.pt").exists()
    nlp = spacy.load(folder)
    assert len(nlp.get_pipe(COMPONENT).heads) == 2
    doc = nlp(trained["text"])
    model_ents = ents(doc, ("DIAGNOSIS", "TREATMENT"))
    assert model_ents, "the trained head finds entities in a real letter"
    again = load_tagger(folder)
    assert again.pipe_names == nlp.pipe_names
    assert ents(again(trained["text"])) == ents(doc)
    # a second save and load of the loaded pipeline tags the same
    nlp.to_disk(folder.parent / "again")
    assert ents(spacy.load(folder.parent / "again")(trained["text"])) == ents(doc)


def test_guidelines_are_the_rules_and_the_header_is_not_tagged(trained):
    nlp = spacy.load(trained["folder"])
    doc = nlp(trained["text"])
    with nlp.select_pipes(disable=[COMPONENT]):
        rules = nlp(trained["text"])
    assert ents(rules, ("GUIDELINE",)) and ents(doc, ("GUIDELINE",)) == ents(rules, ("GUIDELINE",))
    assert has_header(doc)
    header = {t.i for t in doc if t._.section == "header" and not t.is_space}
    assert header and not header & set(tagged_words(doc))  # the model never sees a header word as a tag slot
    assert all(e._.section != "header" for e in doc.ents if e.label_ in ("DIAGNOSIS", "TREATMENT"))
    # the model's entities replace the rules' DIAGNOSIS / TREATMENT
    assert ents(doc, ("DIAGNOSIS", "TREATMENT")) != ents(rules, ("DIAGNOSIS", "TREATMENT"))


def test_heads_are_averaged_and_outside_bias_trades_recall_for_precision(trained):
    nlp = spacy.load(trained["folder"])
    comp = nlp.get_pipe(COMPONENT)
    first, second = comp.heads
    comp.set_heads([first])
    alone = ents(nlp(trained["text"]), ("DIAGNOSIS", "TREATMENT"))
    comp.set_heads([first, first])
    assert ents(nlp(trained["text"]), ("DIAGNOSIS", "TREATMENT")) == alone, "the mean of one head twice is that head"
    comp.set_heads([first, second])
    both = ents(nlp(trained["text"]), ("DIAGNOSIS", "TREATMENT"))
    comp.outside_bias = 2.0
    fewer = ents(nlp(trained["text"]), ("DIAGNOSIS", "TREATMENT"))
    comp.outside_bias = 1e4
    none = ents(nlp(trained["text"]), ("DIAGNOSIS", "TREATMENT"))
    assert len(fewer) < len(both) and none == []
