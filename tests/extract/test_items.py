"""`imr extract` on the shipped letters: one row per item, valid against the written-down schema,
every item with its treatment mention and category, the case's diagnoses with body regions;
`imr predict` writes the same rows with the scores."""
from __future__ import annotations

import json
from collections import Counter

import jsonschema
import pytest

from pipeline.extract.facets import OTHER, body_region, treatment_category
from pipeline.extract.records import EXTRACT_FIELDS, json_schema
from pipeline.serve.batch import COLUMNS, read_predictions

from ..conftest import DMHC_SAMPLE, LETTERS_TXT, SEED, imr, keyed


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    d = tmp_path_factory.mktemp("extract")
    proc = imr("extract", str(LETTERS_TXT), str(SEED), str(DMHC_SAMPLE), "--out", str(d / "items.jsonl"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d, [json.loads(x) for x in (d / "items.jsonl").read_text().splitlines()], proc.stderr


def test_rows_match_the_schema_and_the_letters(extracted, item_labels):
    _, rows, stderr = extracted
    assert "extract: 175 records in = 175 with output + 0 with errors; 392 items out" in stderr
    schema = json_schema(EXTRACT_FIELDS, "imr item row")
    for r in rows:
        jsonschema.validate(r, schema)
        assert list(r) == [f.name for f in EXTRACT_FIELDS]
    dwc = [r for r in rows if r["layout"] == "dwc-2016" and r["case_number"]]  # the seed has no case number
    assert len(dwc) == sum(len(v) for v in item_labels.values()) == 370
    assert {(r["case_number"], r["index"]) for r in dwc} == {(c, int(x["item_index"])) for c, v in item_labels.items()
                                                             for x in v}


def test_schema_printed_by_the_cli_is_the_one_rows_follow():
    proc = imr("extract", "--schema")
    assert proc.returncode == 0 and json.loads(proc.stdout) == json_schema(EXTRACT_FIELDS, "imr item row")


def test_every_item_has_its_treatment_and_category(extracted):
    _, rows, _ = extracted
    letters = [r for r in rows if r["layout"] != "dmhc-csv"]
    assert all(r["treatments"] and r["treatment_category"] for r in rows)
    tagged = [r for r in letters if r["treatments"][0]["start"] is not None]
    assert len(tagged) >= 0.9 * len(letters)  # the tagger's own span, not the item text, for most items
    text = {p.stem: p.read_text() for p in LETTERS_TXT.glob("*.txt")}
    for r in tagged:
        if r["case_number"] in text:
            t = r["treatments"][0]
            assert " ".join(text[r["case_number"]][t["start"]:t["end"]].split()) == t["text"]
    share = Counter(r["treatment_category"] for r in letters)[OTHER] / len(letters)
    assert share < 0.1  # measured share of "other": README


def test_item_headings_fall_back_to_the_rules_where_the_tagger_finds_none(letter_files):
    """The fast pipeline keeps the rules' spans in doc.spans["rules"]: where its NER tagged no
    TREATMENT in an item heading, the rules' span there is the item's treatment (not the item
    text); where the NER tagged one, the NER's stays."""
    from pipeline.extract.items import item_treatments
    from pipeline.io.sources import read_letter
    from pipeline.nlp.build import build_nlp
    from pipeline.nlp.tag import tag_docs
    from spacy.tokens import Span

    letters = [read_letter(p) for p in letter_files[:25]]
    ruled = 0
    for letter, doc in tag_docs(build_nlp(), letters):
        ents = list(doc.ents)  # the rules pipeline writes its spans to doc.ents
        by_rules = item_treatments(doc, letter)
        ruled += sum(bool(v) for v in by_rules.values())
        doc.spans["rules"] = ents
        others = [e for e in ents if e.label_ != "TREATMENT"]
        doc.ents = others  # a NER that found no treatment
        assert item_treatments(doc, letter) == by_rules
        heads = [doc.char_span(m[0]["start"], m[0]["end"]) for m in by_rules.values() if m]
        ner = [Span(doc, h.start, h.start + 1, "TREATMENT") for h in heads if h is not None]
        doc.ents = others + ner  # a NER with one word per heading
        own = item_treatments(doc, letter)  # the NER's spans, none of the rules' added
        assert sorted((x["start"], x["end"]) for m in own.values() for x in m) == [(e.start_char, e.end_char)
                                                                                  for e in ner]
    assert ruled >= 0.85 * sum(len(x.items) for x in letters)  # the fallback is not vacuous


def test_diagnoses_carry_body_regions_and_negation_apart(extracted):
    _, rows, _ = extracted
    letters = [r for r in rows if r["layout"] == "dwc-2016"]
    assert sum(bool(r["diagnoses"]) for r in letters) >= 0.9 * len(letters)
    for r in letters:
        asserted = {d["text"].lower() for d in r["diagnoses"]}
        assert not asserted & {d["text"].lower() for d in r["negated_diagnoses"]}
        assert r["body_regions"] == sorted({d["body_region"] for d in r["diagnoses"]})
    regions = Counter(d["body_region"] for r in letters for d in r["diagnoses"])
    assert regions["lumbar spine"] > 0 and regions["shoulder"] > 0


def test_facets_from_the_vocabularies():
    assert treatment_category(["EMG/NCV of the lower extremities"]) == "diagnostic_test"  # not "mg"
    assert treatment_category(["Norco 10/325mg #60"]) == "opioid"
    assert treatment_category(["Cyclobenzaprine 7.5mg"]) == "medication"
    assert treatment_category(["laminectomy at L4-5"]) == "surgery"
    assert treatment_category(["Zzz widget"]) == OTHER
    assert body_region("lumbar radiculopathy") == "lumbar spine"
    assert body_region("disc protrusion at C5-6") == "cervical spine"
    assert body_region("right rotator cuff tear") == "shoulder"
    assert body_region("something unheard of") == OTHER


def test_predict_rows_are_the_extract_rows_plus_scores(extracted, tiny_model, tmp_path):
    d, rows, _ = extracted
    proc = imr("predict", str(LETTERS_TXT / "CM16-0230651.txt"), str(SEED), "--model", str(tiny_model),
               "--out", str(tmp_path / "p.parquet"), "-q")
    assert proc.returncode == 0, proc.stderr
    scored = keyed(read_predictions(tmp_path / "p.parquet"))
    mine = keyed(rows)
    assert scored and list(next(iter(scored.values()))) == list(COLUMNS)
    for k, r in scored.items():
        assert {f.name: r[f.name] for f in EXTRACT_FIELDS} == mine[k]
        assert 0 <= r["p_overturned"] <= 1
