"""Classifier inputs: one `Example` per disputed item per setting, and the grouped folds.

Two settings:

- ``rationale``: the item, the case summary and the reviewer's decision rationale (reads the
  reviewer's reasoning; the verdict is stated at the end of the rationale).
- ``prior``: what a worker or lawyer knows before filing: the item, the claims
  administrator's cited guideline and the case summary. Never the rationale, never the
  MAXIMUS guideline line, never a decision word. `assert_no_leak` (the one leakage guard)
  is called on every prior input that is built, here and in `imr predict`.

Two domains: ``dwc`` (parsed DWC letters, grouped by letter: the items of one letter share
its case summary) and ``health-plan`` (data/raw/imr_appeals_persius/case_backgrounds.csv,
one case per row, already cut so that the outcome is left out; scored on
``hard_case_subset = false`` rows only).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..io.schema import Letter

SETTINGS = ("rationale", "prior")
DOMAINS = ("dwc", "health-plan")
LABELS = ("Upheld", "Overturned")  # index = label id; 1 = Overturned (the positive class)

# Verdict phrases: none may reach a prior input. "non-certified" (the utilization-review
# denial every IMR starts from) is known before filing and is not a verdict.
VERDICT_PHRASES = (
    "upheld", "overturned", "medically necessary", "not medically necessary",
    "is certified", "is not certified", "was certified", "are certified",
    "medically appropriate", "maximus", "decision rationale", "imr decision",
    "final determination", "expert reviewer",
)
_VERDICT_RE = re.compile(
    r"\b(?:upheld|uphold|upholds|overturn(?:ed|s)?|(?:not\s+)?medically\s+(?:necessary|appropriate)"
    r"|(?:is|are|was|were|be|been)\s+(?:not\s+)?certified|maximus|decision\s+rationale"
    r"|imr\s+decision|final\s+determination|expert\s+reviewer)\b",
    re.I)
MASK = "[redacted]"
TEST_FOLD = -2  # the frozen test split: never trained on, never chosen on, scored once by `imr evaluate`
_WORDS = re.compile(r"[a-z0-9]+")
RATIONALE_SHINGLE = 8  # words
RATIONALE_MAX_SHARED = 2  # a prior input may share at most 2 of a rationale's own 8-word runs


class LeakageError(ValueError):
    """A prior input holds a verdict phrase or the reviewer's rationale."""


def mask_verdicts(text: str) -> str:
    """Replace verdict phrases (e.g. a summary quoting an earlier decision) with ``[redacted]``."""
    return _VERDICT_RE.sub(MASK, text)


def _shingles(text: str, n: int = RATIONALE_SHINGLE) -> set[str]:
    w = _WORDS.findall(text.lower())
    return {" ".join(w[i:i + n]) for i in range(max(0, len(w) - n + 1))}


def assert_no_leak(text: str, rationale: str | None = None, public: str = "") -> str:
    """The leakage guard for prior inputs: raise `LeakageError` if ``text`` holds a verdict
    phrase or the reviewer's rationale. ``public`` is what the input may legitimately hold
    (item, guideline, case summary): a rationale often restates the case history, so only
    its own 8-word runs (those not in ``public``) count, and more than two of them in
    ``text`` is a leak. Returns ``text`` so that it can wrap a builder's result."""
    m = _VERDICT_RE.search(text)
    if m:
        raise LeakageError(f"verdict phrase {m.group()!r} in a prior input: "
                           f"...{text[max(0, m.start() - 40):m.end() + 40]}...")
    if rationale and rationale.strip():
        own = _shingles(rationale) - _shingles(public)
        if own:
            shared = len(own & _shingles(text))
            if shared > RATIONALE_MAX_SHARED:
                raise LeakageError(f"{shared} of the rationale's own {RATIONALE_SHINGLE}-word runs "
                                   "are in a prior input")
        else:  # a rationale shorter than one run: look for it whole
            norm = " ".join(_WORDS.findall(rationale.lower()))
            if (len(norm) > 20 and norm in " ".join(_WORDS.findall(text.lower()))
                    and norm not in " ".join(_WORDS.findall(public.lower()))):
                raise LeakageError("the rationale is in a prior input")
    return text


@dataclasses.dataclass
class Example:
    """One classifier input. ``label`` 1 = Overturned, 0 = Upheld, -1 = unknown."""

    id: str
    group: str  # the letter (case number) or case id: folds never split a group
    domain: str
    setting: str
    text: str
    label: int = -1
    case_number: str | None = None
    index: int | None = None
    item: str | None = None
    specialty: str | None = None
    guideline: str | None = None  # the claims administrator's cited guideline (prior, dwc)
    treatment_category: str | None = None  # from the tagger's item row (`pipeline.extract`)
    body_regions: list[str] = dataclasses.field(default_factory=list)  # of the case's diagnoses
    scored: bool = True  # False: training only (health-plan hard cases)
    fold: int = -1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Example":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _clean(s: str | None) -> str:
    return re.sub(r"\s+", " ", s or "").strip()


def rationale_text(item: str | None, summary: str | None, rationale: str | None) -> str:
    """Item, case summary, then the rationale last: head+tail truncation keeps the item
    and the start of the summary (head) and the rationale's conclusion (tail)."""
    return (f"Item: {_clean(item)}\nCase summary: {_clean(summary)}\n"
            f"Decision rationale: {_clean(rationale)}")


def prior_text(item: str, guideline: str | None, summary: str | None,
               rationale: str | None = None) -> str:
    """The leak-free input: item, claims administrator's guideline, masked case summary.
    Always passes through `assert_no_leak` (raises `LeakageError`)."""
    text = (f"Item: {mask_verdicts(_clean(item))}\n"
            f"Claims administrator guideline: {mask_verdicts(_clean(guideline)) or 'none cited'}\n"
            f"Case summary: {mask_verdicts(_clean(summary))}")
    return assert_no_leak(text, rationale, public=" ".join(x or "" for x in (item, guideline, summary)))


_LABELS = {"Overturned": 1, "Upheld": 0}


def row_examples(rows: Iterable[dict[str, Any]], setting: str, domain: str = "dwc") -> list[Example]:
    """One Example per item row of a letter (`pipeline.extract.records`), labelled from its
    decision (-1 for a decision word that is neither Upheld nor Overturned). The row's
    tagger facets (treatment category, body regions) travel with it."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, not {setting!r}")
    out: list[Example] = []
    for r in rows:
        case = r.get("case_number") or Path(r["source"]).stem
        if setting == "rationale":
            text = rationale_text(r["item"], r.get("case_summary"), r.get("rationale"))
        else:
            text = prior_text(r["item"], r.get("claims_administrator_guideline"), r.get("case_summary"),
                              rationale=r.get("rationale"))
        out.append(Example(id=f"{case}#{r['index']}", group=case, domain=domain, setting=setting, text=text,
                           label=_LABELS.get(r.get("decision"), -1), case_number=case, index=r["index"],
                           item=r["item"], specialty=r.get("specialty"),
                           guideline=r.get("claims_administrator_guideline"),
                           treatment_category=r.get("treatment_category"),
                           body_regions=list(r.get("body_regions") or [])))
    return out


def letter_examples(letters: Iterable[Letter], setting: str) -> list[Example]:
    """`row_examples` of the letters' item rows (parsed fields only, no tagger facets)."""
    from ..extract.records import letter_rows

    return row_examples((r for letter in letters for r in letter_rows(letter)), setting)


def _truthy(v: str | None) -> bool:
    return str(v).strip().lower() in {"true", "1", "yes"}


def health_plan_examples(path: str | Path) -> list[Example]:
    """The health-plan case backgrounds (prior setting only). Drops the rows whose text
    states the outcome; hard cases are kept for training (``scored=False``)."""
    out: list[Example] = []
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if _truthy(row.get("outcome_stated_in_text")):
                continue
            label = 1 if row["decision"].strip().lower() == "overturned" else 0
            text = prior_text_plain(row["text"])
            out.append(Example(id=row["id"], group=row["id"], domain="health-plan",
                               setting="prior", text=text, label=label,
                               scored=not _truthy(row.get("hard_case_subset"))))
    return out


def prior_text_plain(text: str) -> str:
    """A free-text prior input (health-plan backgrounds, `imr predict` on CSV/JSONL rows):
    verdict phrases masked, then the guard."""
    return assert_no_leak(mask_verdicts(_clean(text)))


def assign_folds(examples: list[Example], k: int = 5, seed: int = 13) -> list[Example]:
    """Stratified grouped k-fold by ``group`` (letter): every item of a letter lands in the
    same fold. Unscored examples (training only) get fold -1."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    scored = [e for e in examples if e.scored]
    y = np.array([e.label for e in scored])
    groups = np.array([e.group for e in scored])
    skf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(skf.split(np.zeros(len(scored)), y, groups)):
        for i in test:
            scored[i].fold = fold
    for e in examples:
        if not e.scored:
            e.fold = -1
    return examples


def write_examples(path: str | Path, examples: Sequence[Example]) -> int:
    from ..io.records import write_jsonl

    return write_jsonl(path, (e.to_dict() for e in examples))


def read_examples(path: str | Path) -> list[Example]:
    from ..io.records import read_jsonl

    return [Example.from_dict(d) for d in read_jsonl(path)]


def file_hash(*paths: str | Path) -> str:
    """The data version: sha256 of the input files' bytes (first 12 hex digits)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:12]


def test_split_letters(rows: Sequence[dict[str, Any]], fraction: float) -> set[str]:
    """The frozen DWC test split: the latest ``fraction`` of letters by decision date (a letter
    without a date counts as the oldest), ties by case number."""
    dates: dict[str, str] = {}
    for r in rows:
        case = r.get("case_number") or Path(r["source"]).stem
        dates[case] = max(dates.get(case, ""), r.get("decision_date") or "")
    order = sorted(dates, key=lambda c: (dates[c], c))
    k = round(fraction * len(order))
    return set(order[len(order) - k:]) if k else set()


def test_split_rows(examples: Sequence[Example], fraction: float, seed: int) -> set[str]:
    """The frozen health-plan test split: ``fraction`` of the scored rows of each label, those
    with the lowest sha256("test-split:<seed>:<id>") (stable, independent of row order)."""
    out: set[str] = set()
    for label in (0, 1):
        ids = sorted((e.id for e in examples if e.scored and e.label == label),
                     key=lambda i: hashlib.sha256(f"test-split:{seed}:{i}".encode()).hexdigest())
        out.update(ids[: round(fraction * len(ids))])
    return out


def _with_facets(examples: list[Example], items: dict[str, dict[str, Any]]) -> list[Example]:
    """Health-plan examples with the tagger's facets of their text (rows of ``imr extract``)."""
    for e in examples:
        row = items.get(e.id)
        if row:
            e.treatment_category = row.get("treatment_category")
            e.body_regions = list(row.get("body_regions") or [])
    return examples


def build_all(items_path: str | Path, health_plan_csv: str | Path, out_dir: str | Path, k: int = 5,
              seed: int = 13, test_fraction: float = 0.2, health_plan_items: str | Path | None = None,
              ) -> dict[str, int]:
    """The split stage: data/examples/{dwc-rationale,dwc-prior,health-plan-prior}.jsonl from the
    DWC item rows (``imr extract``) and the health-plan CSV. Each set's frozen test part
    (``fold = TEST_FOLD``: the latest letters by decision date, a stratified share of the
    health-plan rows) is never trained or chosen on; folds are assigned to the rest."""
    from ..io.records import read_jsonl

    out_dir = Path(out_dir)
    rows = list(read_jsonl(items_path))
    dwc_test = test_split_letters(rows, test_fraction)
    sets = {f"dwc-{s}": [e for e in row_examples(rows, s) if e.label >= 0] for s in SETTINGS}
    hp = health_plan_examples(health_plan_csv)
    if health_plan_items:
        hp = _with_facets(hp, {r["id"]: r for r in read_jsonl(health_plan_items)})
    sets["health-plan-prior"] = hp
    hp_test = test_split_rows(hp, test_fraction, seed)
    counts: dict[str, int] = {}
    for name, exs in sets.items():
        test = dwc_test if name.startswith("dwc") else hp_test
        key = (lambda e: e.group) if name.startswith("dwc") else (lambda e: e.id)
        held = [e for e in exs if key(e) in test]
        assign_folds([e for e in exs if key(e) not in test], k=k, seed=seed)
        for e in held:
            e.fold = TEST_FOLD
        counts[name] = write_examples(out_dir / f"{name}.jsonl", exs)
    (out_dir / "summary.json").write_text(json.dumps({
        name: {"examples": len(exs), "overturned": sum(e.label for e in exs),
               "scored": sum(e.scored for e in exs), "groups": len({e.group for e in exs}),
               "test": sum(e.fold == TEST_FOLD for e in exs),
               "test_overturned": sum(e.label for e in exs if e.fold == TEST_FOLD),
               "folds": k, "seed": seed} for name, exs in sets.items()}, indent=2) + "\n")
    return counts
