"""Model cards: what each champion is, what it saw, how well it does, and where it does not.

`write_card` (``imr evaluate``) writes ``models/<domain>-<setting>/README.md`` and puts the
same text on the registered model version's description; ``imr runs --card NAME`` prints it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .. import project
from ..errors import StoreError
from .metrics import LABELS, METRICS, at_chance

CARD = "README.md"
READS = {
    "rationale": "the disputed item, the case summary and the reviewer's decision rationale. It reads the "
                 "decision being made: use it to structure decided letters, not to predict undecided ones.",
    "prior": "what is known before review: the disputed item, the claims administrator's cited guideline and the "
             "case summary, with verdict phrases masked and every input checked by the leakage guard. Never the "
             "rationale, the MAXIMUS guideline line or a decision word.",
}
DATA = {
    "dwc": "DWC workers' compensation IMR letters written by MAXIMUS Federal Services (the dwc-2016 layout), "
           "decided between December 2016 and February 2017, one example per disputed item",
    "health-plan": "health-plan external-review case backgrounds (CA DMHC, CA CDI, NY DFS; the HICRIC / "
                   "imr-appeals cut that leaves the outcome out), one example per case; hard cases never scored",
}


def _metric(v: dict[str, float]) -> str:
    ci = f" [{v['low']:.3f}, {v['high']:.3f}]" if "low" in v and not math.isnan(v["low"]) else ""
    std = f" ± {v['std']:.3f}" if "std" in v else ""
    return f"{v['mean']:.3f}{std}{ci}"


def render(version, run: dict[str, Any], test: dict[str, Any] | None, task_runs: list[dict[str, Any]]) -> str:
    """The card's markdown."""
    task = f"{run['domain']}-{run['setting']}"
    lines = [f"# {version.name}: champion `{run['run']}`", "",
             f"Registered model `{version.name}` version {version.version} (MLflow run {run.get('mlflow_run_id')}), "
             f"alias `champion`; a `{run['kind']}` model. Chosen among {len(task_runs)} runs of the task on "
             "cross-validation only.", "",
             "## What it reads", "", f"Setting `{run['setting']}`: {READS[run['setting']]}", "",
             "## Data it saw", "",
             f"{DATA[run['domain']]}. Trained on {run['n']} scored examples ({run['n_overturned']} Overturned)"
             + (f" plus {run['n_train_only']} training-only hard cases" if run.get("n_train_only") else "")
             + f"; examples file `{run.get('examples')}` (data version {run.get('data_version')})."
             + (f" The frozen test split ({test['n']} items of {test['letters']} letters or cases) was held out of "
                "training, cross-validation and every choice." if test else ""), "",
             "## Settings", "", f"`{run['kind']}` with parameters `{run.get('params')}`; git commit "
                                f"{run.get('git_commit')}.", "",
             "## How well it does", "",
             "| metric | cross-validation: mean ± std across folds [95% interval] | frozen test [95% interval] |",
             "|---|---|---|"]
    for k in METRICS:
        t = _metric(test["summary"][k]) if test else "not scored"
        lines.append(f"| {LABELS[k]} | {_metric(run['summary'][k])} | {t} |")
    chance = at_chance(test)
    limits = [f"Cross-validated on {run['n']} examples with {run['n_overturned']} Overturned: intervals are wide, "
              "and a difference between models inside them is not a result."]
    if chance:
        limits.insert(0, "**At chance on the frozen test split**: its AUROC interval includes 0.5, so on new "
                         "cases it does not rank Overturned above Upheld better than a coin. Do not use its "
                         "scores to decide anything about a single case.")
    if run["domain"] == "dwc":
        limits.append("Only letters of one layout and three months (2016-17) were seen; other periods, "
                      "guideline editions and reviewers may differ.")
    limits.append("Probabilities are calibrated on out-of-fold scores of the same data; the threshold maximizes "
                  "macro-F1 there.")
    lines += ["", "## Known limits", ""] + [f"- {x}" for x in limits]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, version, run: dict[str, Any], test: dict[str, Any] | None,
               task_runs: list[dict[str, Any]]) -> Path:
    """Write the card into the champion's folder and onto its registered version."""
    from ..store import client

    text = render(version, run, test, task_runs)
    path = Path(folder) / CARD
    path.write_text(text, encoding="utf-8")
    client().update_model_version(version.name, version.version, description=text)
    return path


def card_path(name: str) -> Path:
    """The card of a champion folder: ``models/<name>/README.md`` (``name`` may be a path)."""
    p = Path(name)
    folder = p if p.is_dir() else project.models_dir() / name
    return folder / CARD


def read_card(name: str) -> str:
    path = card_path(name)
    if not path.is_file():
        there = sorted(c.parent.name for c in project.models_dir().glob(f"*/{CARD}"))
        raise StoreError(f"no model card at {path} (cards: {', '.join(there) or 'none; run `imr evaluate`'})")
    return path.read_text(encoding="utf-8")
