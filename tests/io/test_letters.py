"""Letter parsing on every real letter in data/raw, the seed, and the two other layouts."""
from __future__ import annotations

import re

import pytest

from pipeline.io.layout_text import join_lines
from pipeline.io.layouts import split_partial
from pipeline.io.letters import parse_letter
from pipeline.io.schema import Decision, LetterError

from ..conftest import FIXTURES, SEED


def _parse(path):
    return parse_letter(path.read_text(encoding="utf-8"), str(path))


def test_every_letter_matches_its_item_labels(letter_files, item_labels):
    """Count, order and decision of every item of every shipped letter, none skipped."""
    n_items = 0
    for path in letter_files:
        letter = _parse(path)
        labels = item_labels[path.stem]
        assert letter.case_number == path.stem
        assert [it.decision.value for it in letter.items] == [r["decision"] for r in labels], path.name
        assert [it.index for it in letter.items] == list(range(1, len(labels) + 1))
        for it, row in zip(letter.items, labels):
            label_text = re.sub(r"\s+", " ", row["disputed_item"]).strip()
            # one shipped label carries the section heading in front of the item
            label_text = label_text.removeprefix("IMR ISSUES, DECISIONS AND RATIONALES ")
            if it.original_request is None:  # labels keep whole partial-authorization sentences
                assert it.item == label_text, path.name
            else:
                assert label_text.removesuffix(" is").endswith(it.item), path.name
        n_items += len(letter.items)
    assert n_items == sum(len(v) for v in item_labels.values())


def test_every_item_has_its_guidelines_and_rationale(letter_files):
    for path in letter_files:
        for it in _parse(path).items:
            assert it.claims_administrator_guideline, (path.name, it.index)
            assert it.maximus_guideline, (path.name, it.index)
            assert it.rationale and len(it.rationale) > 40, (path.name, it.index)
            assert "Decision rationale" not in it.rationale
            assert "MAXIMUS guideline" not in (it.claims_administrator_guideline or "")


def test_header_fields_are_iso_dates(letter_files):
    for path in letter_files:
        letter = _parse(path)
        d = letter.to_dict()
        for name in ("date_assigned", "date_of_injury", "decision_date", "ur_denial_date"):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", d[name]), (path.name, name, d[name])
        assert letter.priority == "Standard"
        assert letter.licensure and letter.specialty
        assert letter.case_summary and not letter.case_summary.startswith("The expert reviewer developed")


def test_header_values_of_one_letter():
    from ..conftest import LETTERS_TXT
    letter = _parse(LETTERS_TXT / "CM16-0229336.txt")
    d = letter.to_dict()
    assert (d["date_assigned"], d["date_of_injury"], d["decision_date"], d["ur_denial_date"]) == (
        "2016-12-05", "2016-10-20", "2016-12-30", "2016-10-28")
    assert d["application_received"] == "2016-11-28"
    assert letter.specialty == "Preventive Medicine, Occupational Medicine"


def test_partial_authorizations_keep_the_three_parts_apart(letter_files):
    partial = []
    for path in letter_files:
        for it in _parse(path).items:
            assert "original request" not in it.item.lower(), (path.name, it.item)
            assert "authorized by" not in it.item.lower(), (path.name, it.item)
            if it.original_request:
                partial.append(it)
    assert len(partial) >= 30
    assert all(it.authorized for it in partial)
    baclofen = [it for it in partial if it.original_request == "Baclofen 100mg #30"]
    assert [(b.item, b.authorized) for b in baclofen] == [("Baclofen 100mg #3", "Baclofen 100mg #27")]


def test_split_partial_second_wording():
    item, orig, auth = split_partial(
        "Acupuncture treatments (unspecified quantity) was the original request. The Claims "
        "Administrator authorized Acupuncture treatments, 6 sessions, leaving the original request "
        "IMR eligible. The original request, Acupuncture treatments (unspecified quantity) is")
    assert (item, orig, auth) == ("Acupuncture treatments (unspecified quantity)",
                                  "Acupuncture treatments (unspecified quantity)",
                                  "Acupuncture treatments, 6 sessions")


def test_line_wrap_hyphenation_is_undone():
    from ..conftest import LETTERS_TXT
    letter = _parse(LETTERS_TXT / "CM16-0230651.txt")
    assert "electromyography and nerve conduction" in letter.items[0].rationale
    assert join_lines(["dated 10-30-", "2016"], set()) == "dated 10-30-2016"
    assert join_lines(["re-", "examination"], set()) == "re-examination"


def test_seed_letter_gives_two_items_with_guidelines():
    letter = _parse(SEED)
    assert letter.case_number is None
    assert [(it.item, it.decision) for it in letter.items] == [
        ("Acupuncture x 6 sessions", Decision.UPHELD),
        ("Exercise kit for home use", Decision.OVERTURNED)]
    acu, kit = letter.items
    assert acu.claims_administrator_guideline == ("Decision based on MTUS Acupuncture Treatment "
                                                  "Guidelines, Chronic Pain Treatment Guidelines.")
    assert acu.maximus_guideline == "Decision based on MTUS Acupuncture Treatment Guidelines."
    assert "ACOEM Chapter 9 Shoulder Complaints" in kit.claims_administrator_guideline
    assert kit.maximus_guideline.endswith("ODG: Knee and Leg: Home Exercise Kits.")
    assert kit.rationale.endswith("Exercise kit is medically necessary.")
    assert letter.specialty == "Emergency Medicine"


# Layouts 2 and 3 have no real sample in data/raw: the fixtures are letters written for
# these tests from the layouts' published section headings, not real letters.

def test_maximus_2013_layout():
    letter = _parse(FIXTURES / "maximus_2013_layout.txt")
    assert letter.layout == "maximus-2013"
    assert letter.case_number == "CM13-0012345"
    assert [(it.item, it.decision) for it in letter.items] == [
        ("a 28 day functional restoration program", Decision.UPHELD),
        ("Tramadol 50mg #60", Decision.OVERTURNED)]
    frp, tram = letter.items
    assert "Functional restoration programs" in frp.claims_administrator_guideline
    assert "Medical Treatment Guideline(s)" not in frp.claims_administrator_guideline
    assert tram.maximus_guideline.startswith("The Expert Reviewer relied on the MTUS")
    assert tram.rationale.endswith("is medically necessary and appropriate.")
    assert letter.specialty == "Occupational Medicine" and letter.licensure == "California"
    assert letter.to_dict()["decision_date"] == "2013-10-15"


def test_medical_professional_review_layout():
    letter = _parse(FIXTURES / "medical_professional_review_layout.txt")
    assert letter.layout == "medical-professional-review"
    assert [(it.item, it.decision) for it in letter.items] == [
        ("Lumbar epidural steroid injection at L4-5", Decision.UPHELD)]
    it = letter.items[0]
    assert it.maximus_guideline.startswith("MTUS Chronic Pain Medical Treatment Guidelines")
    assert "MEDICAL REVIEWER" not in it.rationale
    assert letter.case_summary.startswith("The patient is a 51-year-old male")
    assert letter.specialty == "Anesthesiology"


def test_medical_professional_review_overturned_wording():
    text = (FIXTURES / "medical_professional_review_layout.txt").read_text()
    text = text.replace("IS/WAS NOT MEDICALLY NECESSARY:", "IS/WAS MEDICALLY NECESSARY:")
    assert parse_letter(text, "x").items[0].decision is Decision.OVERTURNED


@pytest.mark.parametrize("mutate, code", [
    (lambda t: t[: t.index("no plan for weaning")], "truncated"),
    (lambda t: t[: t.index("Decision rationale: MTUS Chronic pain")], "truncated"),
    (lambda t: "Dear customer,\nyour order has shipped.\n", "not-an-imr-letter"),
    (lambda t: "   \n\n", "empty-text"),
])
def test_bad_letters_raise_a_coded_error(mutate, code):
    with pytest.raises(LetterError) as err:
        parse_letter(mutate(SEED.read_text(encoding="utf-8")), "seed")
    assert err.value.code == code
    assert err.value.message


def test_another_decision_word_keeps_the_item_undecided():
    """A decision that is neither Upheld nor Overturned ("Pending") does not cost the letter:
    the item is kept with no decision and the letter's own word."""
    text = SEED.read_text(encoding="utf-8").replace("Acupuncture x 6 sessions: Upheld",
                                                      "Acupuncture x 6 sessions: Pending")
    acu, kit = parse_letter(text, "seed").items
    assert (acu.item, acu.decision, acu.decision_word) == ("Acupuncture x 6 sessions", None, "Pending")
    assert acu.rationale and acu.maximus_guideline
    assert (kit.decision, kit.decision_word) == (Decision.OVERTURNED, None)
    assert acu.to_dict()["decision"] is None


def test_another_decision_word_in_layout_2():
    text = (FIXTURES / "maximus_2013_layout.txt").read_text().replace(
        "#60 is medically necessary and appropriate.", "#60 is partially certified.")
    frp, tram = parse_letter(text, "x").items
    assert frp.decision is Decision.UPHELD
    assert (tram.decision, tram.decision_word) == (None, "partially certified")
