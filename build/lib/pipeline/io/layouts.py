"""The three known MAXIMUS letter layouts, each parsed into a `Letter` with its items.

- ``dwc-2016``: "IMR ISSUES, DECISIONS AND RATIONALES" (the letters in data/raw);
- ``maximus-2013``: "MAXIMUS FEDERAL SERVICES, INC." / "IMR DECISION(S) AND RATIONALE(S)";
- ``medical-professional-review``: "MEDICAL PROFESSIONAL REVIEW" / "ISSUE AT DISPUTE:".

Every decision comes from the letter's own words. A decision word that is neither Upheld
nor Overturned ("Pending") leaves the item's ``decision`` empty and keeps the word in
``decision_word``: the item is still there for a model that does not read decisions.
"""
from __future__ import annotations

import re

from .layout_text import DATE, flat, header_fields, join_lines, paragraphs, section, vocabulary_of
from .schema import Decision, Item, Letter, LetterError

_CASE = r"([A-Z]{2}\d{2}-\d+)"
# Header fields of each layout: Letter field -> regex whose group 1 is the value.
_DWC_HEADER = {
    "case_number": r"Case Number\s*:\s*" + _CASE,
    "date_assigned": r"Date Assigned\s*:\s*" + DATE,
    "date_of_injury": r"Date of Injury\s*:\s*" + DATE,
    "decision_date": r"Decision Date\s*:\s*" + DATE,
    "ur_denial_date": r"UR Denial Date\s*:\s*" + DATE,
    "application_received": r"Application\s+Received\s*:\s*" + DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
}
_DWC_REVIEWER = {
    "licensure": r"State\(s\) of Licensure\s*:\s*([^\n]+)",
    "specialty": r"Certification\(s\)/Specialty\s*:\s*([^\n]+)",
}
_MAXIMUS_2013_HEADER = {
    "case_number": r"(?:IMR )?Case Number\s*:\s*" + _CASE,
    "date_of_injury": r"Date of Injury\s*:\s*" + DATE,
    "decision_date": r"Dated\s*:\s*" + DATE,
    "ur_denial_date": r"Date of UR Decision\s*:\s*" + DATE,
    "application_received": r"IMR Application Received\s*:\s*" + DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
    "licensure": r"licensed to practice in ([A-Z][A-Za-z ,]+?)(?:\.|\n| and )",
    "specialty": r"Board Certified in ([A-Z][A-Za-z ,/]+?)(?:\.|\n| and )",
}
_MPR_HEADER = {
    "case_number": r"(?:IMR )?Case (?:Number|No\.?)\s*:\s*" + _CASE,
    "date_of_injury": r"Date of Injury\s*:\s*" + DATE,
    "decision_date": r"Decision Date\s*:\s*" + DATE,
    "ur_denial_date": r"UR Denial Date\s*:\s*" + DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
}
_MPR_REVIEWER = {
    "licensure": r"licensed (?:to practice )?in ([A-Z][A-Za-z ,]+?)(?:\.|\n| and )",
    "specialty": r"(?:Board )?[Cc]ertified in ([A-Z][A-Za-z ,/]+?)(?:\.|\n| and | with )",
}



# ------------------------------------------------------------- layout: dwc-2016

_CA = re.compile(r"^Claims Administrator guideline\s*:\s*", re.I)
_MX = re.compile(r"^MAXIMUS guideline\s*:\s*", re.I)
_RAT = re.compile(r"^Decision rationale\s*:\s*", re.I)
_HEADING = re.compile(r"^(?P<item>.*?\S)\s*:\s*(?P<word>Upheld|Overturned)\s*$", re.I)
_ANY_WORD_HEADING = re.compile(r"^(?P<item>.*?\S)\s*:\s*(?P<word>[A-Za-z][A-Za-z ]{0,30}?)\.?\s*$")
_INTRO = re.compile(r"^.*?set forth below\s*:\s*", re.I | re.S)
_SUMMARY_INTRO = re.compile(
    r"^The expert reviewer developed the following clinical case summary based on a review "
    r"of the case file, including all medical records\s*:\s*", re.I)
_PARTIAL = [
    re.compile(r"^(?P<orig>.+?) was the original request\.\s*(?P<auth>.+?) was authorized by the "
               r"Claims Administrator\.\s*The remaining IMR eligible portion of the original "
               r"request,?\s*(?P<item>.+?)(?:,?\s+is)?$", re.I),
    re.compile(r"^(?P<orig>.+?) was the original request\.\s*The Claims Administrator authorized "
               r"(?P<auth>.+?),? leaving the original request IMR eligible\.\s*The original "
               r"request,?\s*(?P<item>.+?)(?:,?\s+is)?$", re.I),
]
_PARTIAL_LOOSE = re.compile(r"original request,?\s*(?P<item>[^.]+?)(?:,?\s+is)?$", re.I)
# A complete rationale ends a sentence, or (some real letters drop the period) a verdict word.
_TERMINAL = re.compile(r"([.!?)\]\"'”]|\b(?:necessary|appropriate|indicated|certified|warranted|"
                       r"supported|established|recommended))$", re.I)


def split_partial(heading: str) -> tuple[str, str | None, str | None]:
    """Split a partial authorization heading into (item, original_request, authorized)."""
    for pat in _PARTIAL:
        m = pat.match(heading)
        if m:
            return m["item"].strip(), m["orig"].strip(), m["auth"].strip()
    if re.search(r"original request", heading, re.I):
        m = _PARTIAL_LOOSE.search(heading)
        if m:
            orig = re.match(r"^(.+?) was the original request", heading, re.I)
            return m["item"].strip(), orig.group(1).strip() if orig else None, None
    return heading, None, None


def _decision_word(word: str) -> tuple[Decision | None, str | None]:
    """(Decision, None) for Upheld / Overturned; (None, the word) for any other word."""
    try:
        return Decision.from_word(word), None
    except ValueError:
        return None, word.strip()


def _parse_dwc_2016(text: str, source: str) -> Letter:
    vocab = vocabulary_of(text)
    up = text.upper()
    head_end = up.find("HOW THE IMR FINAL DETERMINATION WAS MADE")
    head = text[: head_end if head_end >= 0 else up.find("IMR ISSUES, DECISIONS AND RATIONALES")]
    letter = Letter(source=source, layout="dwc-2016", **header_fields(head, _DWC_HEADER),
                    **header_fields(text, _DWC_REVIEWER))
    cs = re.search(r"CLINICAL CASE SUMMARY(.*?)IMR ISSUES, DECISIONS AND RATIONALES", text, re.S)
    if cs:
        summary = " ".join(join_lines(p, vocab) for p in paragraphs(cs.group(1)))
        letter.case_summary = _SUMMARY_INTRO.sub("", summary).strip() or None
    issues_at = up.find("IMR ISSUES, DECISIONS AND RATIONALES")
    body = text[issues_at + len("IMR ISSUES, DECISIONS AND RATIONALES"):]
    body = _INTRO.sub("", body, count=1) if re.search(r"set forth below", body[:400], re.I) else body
    letter.items = _dwc_items([join_lines(p, vocab) for p in _split_at_labels(paragraphs(body))],
                              source)
    return letter


_DECISION_END = re.compile(r"(?::|^)\s*(Upheld|Overturned)\s*$", re.I)


def _split_at_labels(paras: list[list[str]]) -> list[list[str]]:
    """Also break paragraphs where a label line starts or a decision line ends one
    (some letters run a heading, its decision and the next label together)."""
    out: list[list[str]] = []
    for para in paras:
        cur: list[str] = []
        for ln in para:
            if cur and _label(ln.strip()):
                out.append(cur)
                cur = []
            cur.append(ln)
            if _DECISION_END.search(ln) and not _label(" ".join(cur).strip()):
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
    return out


def _dwc_items(paras: list[str], source: str) -> list[Item]:
    """Walk the issue paragraphs: heading, CA guideline, MAXIMUS guideline, rationale."""
    items: list[Item] = []
    field: str | None = None  # the field the current paragraph continues
    for i, para in enumerate(paras):
        nxt = paras[i + 1] if i + 1 < len(paras) else ""
        heading = _HEADING.match(para)
        if not heading and _CA.match(nxt) and not _label(para):
            heading = _ANY_WORD_HEADING.match(para)  # an item whose decision word is another one
            if heading is None:
                raise LetterError("bad-decision", f"item {len(items) + 1}: no decision word in "
                                                  f"its heading {para[-60:]!r}")
        if heading and not _label(para):
            item, orig, auth = split_partial(heading["item"])
            decision, word = _decision_word(heading["word"])
            items.append(Item(index=len(items) + 1, item=item, decision=decision, decision_word=word,
                              original_request=orig, authorized=auth))
            field = None
            continue
        if not items:
            continue  # text before the first item (intro) carries nothing
        cur = items[-1]
        for pat, name in ((_CA, "claims_administrator_guideline"), (_MX, "maximus_guideline"),
                          (_RAT, "rationale")):
            if pat.match(para):
                field = name
                setattr(cur, name, pat.sub("", para).strip())
                break
        else:
            if field:
                setattr(cur, field, f"{getattr(cur, field)}\n{para}")
    for it in items:
        if not it.rationale:
            raise LetterError("truncated",
                              f"item {it.index} ({it.item[:60]!r}) has no decision rationale: "
                              "the letter looks cut off")
    if items and not _TERMINAL.search(items[-1].rationale or ""):
        raise LetterError("truncated", f"the rationale of item {items[-1].index} stops mid-sentence: "
                                       "the letter looks cut off")
    return items


def _label(para: str) -> bool:
    return bool(_CA.match(para) or _MX.match(para) or _RAT.match(para))


# --------------------------------------------------------- layout: maximus-2013

_DETERMINED = re.compile(
    r"has determined the request for (?P<item>.+?) is (?P<verdict>(?:not )?medically necessary"
    r"(?: and appropriate)?|[a-z ]+?)\.", re.I | re.S)


def _verdict(phrase: str) -> tuple[Decision | None, str | None]:
    """A determination phrase: "not medically necessary" is Upheld, "medically necessary"
    Overturned; any other phrase leaves the decision empty and is kept as its word."""
    p = re.sub(r"\s+", " ", phrase.lower())
    if p.startswith("not medically necessary"):
        return Decision.UPHELD, None
    if p.startswith("medically necessary"):
        return Decision.OVERTURNED, None
    return None, re.sub(r"\s+", " ", phrase).strip()


def _parse_maximus_2013(text: str, source: str) -> Letter:
    vocab = vocabulary_of(text)
    decisions_at = re.search(r"IMR DECISION\(S\) AND RATIONALE\(S\)", text, re.I)
    front = text[: decisions_at.start()] if decisions_at else text
    letter = Letter(source=source, layout="maximus-2013", **header_fields(text, _MAXIMUS_2013_HEADER))
    letter.case_summary = flat(section(text, "Case Summary:", ["DOCUMENTS REVIEWED",
                                                                 "IMR DECISION(S) AND RATIONALE(S)"]),
                                vocab)
    # The first numbered list of determinations is the letter's decision list.
    seen: list[tuple[str, str]] = []
    for m in _DETERMINED.finditer(front):
        pair = (join_lines(m["item"].split("\n"), vocab), m["verdict"])
        if pair in seen:
            break  # the list is repeated under "DECISION AND RATIONALE"
        seen.append(pair)
    blocks = re.split(r"\n\s*\d+\)?\.?\s*Regarding the request for ", text[decisions_at.end():],
                      flags=re.I)[1:] if decisions_at else []
    for n, (item_text, verdict) in enumerate(seen, start=1):
        decision, word = _verdict(verdict)
        it = Item(index=n, item=item_text, decision=decision, decision_word=word)
        if n <= len(blocks):
            blk = blocks[n - 1]
            it.claims_administrator_guideline = flat(section(
                blk, "relied upon by the Claims Administrator:",
                ["Medical Treatment Guideline(s) relied upon by the Expert Reviewer",
                 "Rationale for the Decision"]), vocab)
            it.maximus_guideline = flat(section(
                blk, "relied upon by the Expert Reviewer:", ["Rationale for the Decision"]), vocab)
            rationale = section(blk, "Rationale for the Decision:", ["IMR DECISION(S)"]) or ""
            it.rationale = flat(re.sub(r"\n\s*/[A-Za-z]+\s*$", "", rationale.rstrip()), vocab)
        letter.items.append(it)
    if decisions_at and len(blocks) < len(seen):
        raise LetterError("truncated", f"{len(seen)} determinations but {len(blocks)} rationales: "
                                       "the letter looks cut off")
    return letter


# ------------------------------------------- layout: medical-professional-review

_MPR_HEADINGS = ["ISSUE AT DISPUTE:", "CASE SUMMARY:", "DOCUMENTS REVIEWED FOR DETERMINATION:",
                 "MEDICAL TREATMENT GUIDELINE(S) RELIED UPON", "RATIONALE FOR WHY THE REQUESTED",
                 "MEDICAL REVIEWER QUALIFICATIONS:"]
_MPR_RATIONALE = re.compile(
    r"RATIONALE FOR WHY THE REQUESTED TREATMENT/SERVICE IS/WAS (?P<verdict>NOT MEDICALLY NECESSARY|"
    r"MEDICALLY NECESSARY|[A-Z ]+?)\s*:", re.S)


def _parse_medical_professional_review(text: str, source: str) -> Letter:
    vocab = vocabulary_of(text)

    def sec(start: str) -> str | None:
        return section(text, start, [h for h in _MPR_HEADINGS if h != start])

    quals = flat(sec("MEDICAL REVIEWER QUALIFICATIONS:"), vocab) or ""
    letter = Letter(source=source, layout="medical-professional-review",
                    **header_fields(text, _MPR_HEADER), **header_fields(quals, _MPR_REVIEWER),
                    case_summary=flat(sec("CASE SUMMARY:"), vocab))
    issues = flat(sec("ISSUE AT DISPUTE:"), vocab) or ""
    requests = [re.sub(r"^\s*(?:\d+[.)]\s*)", "", ln).strip() for ln in issues.split("\n") if ln.strip()]
    requests = [re.sub(r"^(?:Is|Are|Was|Were) (?:the )?(?:request(?:ed)? for )?|"
                       r"\s+(?:is |are )?(?:medically necessary|medically necessary and "
                       r"appropriate)\??$", "", r, flags=re.I).strip() for r in requests]
    guideline = re.search(r"MEDICAL TREATMENT GUIDELINE\(S\) RELIED UPON[^:\n]*:(.*?)(?="
                          r"RATIONALE FOR WHY|MEDICAL REVIEWER QUALIFICATIONS:|$)", text, re.S)
    rationales = list(_MPR_RATIONALE.finditer(text))
    if len(rationales) < len(requests):
        raise LetterError("truncated", f"{len(requests)} issues at dispute but {len(rationales)} "
                                       "rationales: the letter looks cut off")
    for n, (req, m) in enumerate(zip(requests, rationales), start=1):
        verdict = re.sub(r"\s+", " ", m["verdict"]).lower()
        body_end = rationales[n].start() if n < len(rationales) else len(text)
        body = re.split(r"MEDICAL REVIEWER QUALIFICATIONS:", text[m.end():body_end])[0]
        decision, word = _verdict(verdict)
        letter.items.append(Item(
            index=n, item=req, decision=decision, decision_word=word,
            maximus_guideline=flat(guideline.group(1), vocab) if guideline else None,
            rationale=flat(body, vocab)))
    return letter



PARSERS = {"dwc-2016": _parse_dwc_2016, "maximus-2013": _parse_maximus_2013,
           "medical-professional-review": _parse_medical_professional_review}
