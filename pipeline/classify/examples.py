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

from ..io.schema import Decision, Item, Letter

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


def rationale_text(letter: Letter, item: Item) -> str:
    """Item, case summary, then the rationale last: head+tail truncation keeps the item
    and the start of the summary (head) and the rationale's conclusion (tail)."""
    return (f"Item: {_clean(item.item)}\nCase summary: {_clean(letter.case_summary)}\n"
            f"Decision rationale: {_clean(item.rationale)}")


def prior_text(item: str, guideline: str | None, summary: str | None,
               rationale: str | None = None) -> str:
    """The leak-free input: item, claims administrator's guideline, masked case summary.
    Always passes through `assert_no_leak` (raises `LeakageError`)."""
    text = (f"Item: {mask_verdicts(_clean(item))}\n"
            f"Claims administrator guideline: {mask_verdicts(_clean(guideline)) or 'none cited'}\n"
            f"Case summary: {mask_verdicts(_clean(summary))}")
    return assert_no_leak(text, rationale, public=" ".join(x or "" for x in (item, guideline, summary)))


_LABEL_OF = {Decision.OVERTURNED: 1, Decision.UPHELD: 0}


def letter_examples(letters: Iterable[Letter], setting: str) -> list[Example]:
    """One Example per item of each letter (labelled from the item's decision)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, not {setting!r}")
    out: list[Example] = []
    for n, letter in enumerate(letters):
        case = letter.case_number or Path(letter.source).stem or f"letter-{n}"
        for it in letter.items:
            if setting == "rationale":
                text = rationale_text(letter, it)
            else:
                text = prior_text(it.item, it.claims_administrator_guideline, letter.case_summary,
                                  rationale=it.rationale)
            label = _LABEL_OF.get(it.decision, -1)  # -1: a decision word that is neither
            out.append(Example(id=f"{case}#{it.index}", group=case, domain="dwc", setting=setting,
                               text=text, label=label, case_number=case, index=it.index,
                               item=it.item, specialty=letter.specialty,
                               guideline=it.claims_administrator_guideline))
    return out


def read_letters(path: str | Path) -> list[Letter]:
    from ..io.records import read_jsonl

    return [Letter.from_dict(d) for d in read_jsonl(path)]


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


def build_all(letters_path: str | Path, health_plan_csv: str | Path, out_dir: str | Path,
              k: int = 5, seed: int = 13) -> dict[str, int]:
    """The split stage: data/examples/{dwc-rationale,dwc-prior,health-plan-prior}.jsonl."""
    out_dir = Path(out_dir)
    letters = read_letters(letters_path)
    counts: dict[str, int] = {}
    sets = {f"dwc-{s}": [e for e in letter_examples(letters, s) if e.label >= 0] for s in SETTINGS}
    sets["health-plan-prior"] = health_plan_examples(health_plan_csv)
    for name, exs in sets.items():
        assign_folds(exs, k=k, seed=seed)
        counts[name] = write_examples(out_dir / f"{name}.jsonl", exs)
    (out_dir / "summary.json").write_text(json.dumps({
        name: {"examples": len(exs), "overturned": sum(e.label for e in exs),
               "scored": sum(e.scored for e in exs), "groups": len({e.group for e in exs}),
               "folds": k, "seed": seed} for name, exs in sets.items()}, indent=2) + "\n")
    return counts
