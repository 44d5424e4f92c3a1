"""Parse MAXIMUS IMR determination letters (three known layouts) into `Letter` records.

The parser reads the letter's own words: every decision comes from the letter's
decision line, never from a guess. Layout detection is by section headings:

- ``dwc-2016``: "IMR ISSUES, DECISIONS AND RATIONALES" (the letters in data/raw);
- ``maximus-2013``: "MAXIMUS FEDERAL SERVICES, INC." / "IMR DECISION(S) AND RATIONALE(S)";
- ``medical-professional-review``: "MEDICAL PROFESSIONAL REVIEW" / "ISSUE AT DISPUTE:".
"""
from __future__ import annotations

import datetime as dt
import re

from .schema import Decision, Item, Letter, LetterError

_DATE = r"(\d{1,2}/\d{1,2}/\d{2,4})"
_WORD = re.compile(r"[A-Za-z]+")


# --------------------------------------------------------------------------- text


def parse_date(value: str | None) -> dt.date | None:
    """MM/DD/YYYY (or MM/DD/YY) to a date; None when absent or impossible."""
    if not value:
        return None
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2,4})", value.strip())
    if not m:
        return None
    month, day, year = (int(g) for g in m.groups())
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def join_lines(lines: list[str], vocabulary: set[str]) -> str:
    """Join PDF layout lines into one string, undoing line-wrap hyphenation.

    "electro-" + "myography" becomes "electromyography" when the letter spells the
    word unhyphenated elsewhere (``vocabulary``); otherwise the hyphen is kept
    ("10-30-" + "2016" gives "10-30-2016").
    """
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalnum():
            left = _WORD.findall(out[-40:])
            right = _WORD.match(line)
            if left and right and out[-2].isalpha() and line[0].islower() \
                    and (left[-1] + right.group()).lower() in vocabulary:
                out = out[:-1] + line
            else:
                out += line
        else:
            out = f"{out} {line}" if out else line
    return re.sub(r"[ \t]+", " ", out).strip()


def paragraphs(text: str) -> list[list[str]]:
    """Split text into paragraphs of lines.

    pypdf output separates paragraphs with a line holding only spaces, while an
    empty line is a page join; when a text has no space-only lines (another
    extractor), empty lines separate paragraphs instead.
    """
    lines = text.split("\n")
    spaced = sum(1 for ln in lines if ln and not ln.strip()) >= 2
    paras: list[list[str]] = []
    current: list[str] = []
    for ln in lines:
        is_break = (not ln.strip()) and (bool(ln) if spaced else True)
        if is_break:
            if current:
                paras.append(current)
                current = []
        elif ln.strip():
            current.append(ln)
    if current:
        paras.append(current)
    return paras


def vocabulary_of(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _field(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", m.group(1)).strip() if m else None


_DATE_FIELDS = {"date_assigned", "date_of_injury", "decision_date", "ur_denial_date",
                "application_received"}
_CASE = r"([A-Z]{2}\d{2}-\d+)"
# Header fields of each layout: Letter field -> regex whose group 1 is the value.
_DWC_HEADER = {
    "case_number": r"Case Number\s*:\s*" + _CASE,
    "date_assigned": r"Date Assigned\s*:\s*" + _DATE,
    "date_of_injury": r"Date of Injury\s*:\s*" + _DATE,
    "decision_date": r"Decision Date\s*:\s*" + _DATE,
    "ur_denial_date": r"UR Denial Date\s*:\s*" + _DATE,
    "application_received": r"Application\s+Received\s*:\s*" + _DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
}
_DWC_REVIEWER = {
    "licensure": r"State\(s\) of Licensure\s*:\s*([^\n]+)",
    "specialty": r"Certification\(s\)/Specialty\s*:\s*([^\n]+)",
}
_MAXIMUS_2013_HEADER = {
    "case_number": r"(?:IMR )?Case Number\s*:\s*" + _CASE,
    "date_of_injury": r"Date of Injury\s*:\s*" + _DATE,
    "decision_date": r"Dated\s*:\s*" + _DATE,
    "ur_denial_date": r"Date of UR Decision\s*:\s*" + _DATE,
    "application_received": r"IMR Application Received\s*:\s*" + _DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
    "licensure": r"licensed to practice in ([A-Z][A-Za-z ,]+?)(?:\.|\n| and )",
    "specialty": r"Board Certified in ([A-Z][A-Za-z ,/]+?)(?:\.|\n| and )",
}
_MPR_HEADER = {
    "case_number": r"(?:IMR )?Case (?:Number|No\.?)\s*:\s*" + _CASE,
    "date_of_injury": r"Date of Injury\s*:\s*" + _DATE,
    "decision_date": r"Decision Date\s*:\s*" + _DATE,
    "ur_denial_date": r"UR Denial Date\s*:\s*" + _DATE,
    "priority": r"Priority\s*:\s*([A-Za-z]+)",
}
_MPR_REVIEWER = {
    "licensure": r"licensed (?:to practice )?in ([A-Z][A-Za-z ,]+?)(?:\.|\n| and )",
    "specialty": r"(?:Board )?[Cc]ertified in ([A-Z][A-Za-z ,/]+?)(?:\.|\n| and | with )",
}


def _header(text: str, fields: dict[str, str]) -> dict:
    """Letter keyword arguments for the header ``fields`` found in ``text`` (dates parsed)."""
    out: dict = {}
    for name, pattern in fields.items():
        value = _field(pattern, text)
        out[name] = parse_date(value) if name in _DATE_FIELDS else value
    return out


def detect_layout(text: str) -> str:
    """Name the MAXIMUS layout of ``text`` or raise ``LetterError('not-an-imr-letter')``."""
    up = text.upper()
    if "IMR ISSUES, DECISIONS AND RATIONALES" in up:
        return "dwc-2016"
    if "IMR DECISION(S) AND RATIONALE(S)" in up or (
            "MAXIMUS FEDERAL SERVICES, INC" in up and "INDEPENDENT MEDICAL REVIEW" in up
            and "HAS DETERMINED THE REQUEST FOR" in up):
        return "maximus-2013"
    if "MEDICAL PROFESSIONAL REVIEW" in up and "ISSUE AT DISPUTE" in up:
        return "medical-professional-review"
    raise LetterError("not-an-imr-letter",
                      "no MAXIMUS IMR section headings found (not an IMR determination letter)")


def parse_letter(text: str, source: str) -> Letter:
    """Parse one letter's text. Raises ``LetterError`` with a code on bad input."""
    if not text or not text.strip():
        raise LetterError("empty-text", "the file holds no text")
    layout = detect_layout(text)
    parser = {"dwc-2016": _parse_dwc_2016, "maximus-2013": _parse_maximus_2013,
              "medical-professional-review": _parse_medical_professional_review}[layout]
    letter = parser(text, source)
    letter.layout = layout
    letter.text = text
    if not letter.items:
        raise LetterError("no-items", "the letter has no disputed item with a decision")
    return letter


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


def _parse_dwc_2016(text: str, source: str) -> Letter:
    vocab = vocabulary_of(text)
    up = text.upper()
    head_end = up.find("HOW THE IMR FINAL DETERMINATION WAS MADE")
    header = text[: head_end if head_end >= 0 else up.find("IMR ISSUES, DECISIONS AND RATIONALES")]
    letter = Letter(source=source, layout="dwc-2016", **_header(header, _DWC_HEADER),
                    **_header(text, _DWC_REVIEWER))
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
            loose = _ANY_WORD_HEADING.match(para)
            word = loose["word"] if loose else para[-40:]
            raise LetterError("bad-decision",
                              f"item {len(items) + 1}: decision {word!r} is neither Upheld nor Overturned")
        if heading and not _label(para):
            item, orig, auth = split_partial(heading["item"])
            items.append(Item(index=len(items) + 1, item=item,
                              decision=Decision.from_word(heading["word"]),
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


def _verdict(phrase: str, index: int) -> Decision:
    p = re.sub(r"\s+", " ", phrase.lower())
    if p.startswith("not medically necessary"):
        return Decision.UPHELD
    if p.startswith("medically necessary"):
        return Decision.OVERTURNED
    raise LetterError("bad-decision",
                      f"item {index}: determination {phrase!r} is neither medically necessary "
                      "(Overturned) nor not medically necessary (Upheld)")


def _section(text: str, start: str, ends: list[str]) -> str | None:
    m = re.search(re.escape(start), text, re.I)
    if not m:
        return None
    rest = text[m.end():]
    cut = len(rest)
    for end in ends:
        e = re.search(re.escape(end), rest, re.I)
        if e:
            cut = min(cut, e.start())
    return rest[:cut]


def _flat(text: str | None, vocab: set[str]) -> str | None:
    if text is None:
        return None
    out = "\n".join(join_lines(p, vocab) for p in paragraphs(text))
    return out.strip() or None


def _parse_maximus_2013(text: str, source: str) -> Letter:
    vocab = vocabulary_of(text)
    decisions_at = re.search(r"IMR DECISION\(S\) AND RATIONALE\(S\)", text, re.I)
    front = text[: decisions_at.start()] if decisions_at else text
    letter = Letter(source=source, layout="maximus-2013", **_header(text, _MAXIMUS_2013_HEADER))
    letter.case_summary = _flat(_section(text, "Case Summary:", ["DOCUMENTS REVIEWED",
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
        it = Item(index=n, item=item_text, decision=_verdict(verdict, n))
        if n <= len(blocks):
            blk = blocks[n - 1]
            it.claims_administrator_guideline = _flat(_section(
                blk, "relied upon by the Claims Administrator:",
                ["Medical Treatment Guideline(s) relied upon by the Expert Reviewer",
                 "Rationale for the Decision"]), vocab)
            it.maximus_guideline = _flat(_section(
                blk, "relied upon by the Expert Reviewer:", ["Rationale for the Decision"]), vocab)
            rationale = _section(blk, "Rationale for the Decision:", ["IMR DECISION(S)"]) or ""
            it.rationale = _flat(re.sub(r"\n\s*/[A-Za-z]+\s*$", "", rationale.rstrip()), vocab)
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
        return _section(text, start, [h for h in _MPR_HEADINGS if h != start])

    quals = _flat(sec("MEDICAL REVIEWER QUALIFICATIONS:"), vocab) or ""
    letter = Letter(source=source, layout="medical-professional-review",
                    **_header(text, _MPR_HEADER), **_header(quals, _MPR_REVIEWER),
                    case_summary=_flat(sec("CASE SUMMARY:"), vocab))
    issues = _flat(sec("ISSUE AT DISPUTE:"), vocab) or ""
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
        letter.items.append(Item(
            index=n, item=req, decision=_verdict(verdict, n),
            maximus_guideline=_flat(guideline.group(1), vocab) if guideline else None,
            rationale=_flat(body, vocab)))
    return letter
