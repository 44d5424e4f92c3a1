"""Metrics, cross-fitted calibration, the comparison table and champion export (CLI, tiny runs)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.classify import cv, metrics
from pipeline.cli import app

from ..conftest import ROOT


def test_metrics_on_known_values():
    y = [0, 0, 0, 1, 1]
    p = [0.1, 0.2, 0.6, 0.7, 0.9]
    m = metrics.compute_metrics(y, p)
    assert m["accuracy"] == pytest.approx(0.8) and m["auroc"] == pytest.approx(1.0)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["auprc"] == pytest.approx(1.0)
    assert metrics.ece([0, 1], [0.0, 1.0]) == 0.0
    assert metrics.ece([0, 0, 1, 1], [0.9, 0.9, 0.9, 0.9]) == pytest.approx(0.4)
    curve = metrics.reliability([0, 0, 1, 1], [0.05, 0.15, 0.85, 0.95], bins=2)
    assert [c["observed"] for c in curve] == [0.0, 1.0] and sum(c["count"] for c in curve) == 4


def test_cross_validate_calibrates_on_other_folds_only():
    from pipeline.classify import Classifier
    from pipeline.classify.examples import Example

    class Echo(Classifier):  # raw score = a number written in the text
        kind = "echo"

        def fit(self, examples):
            return self

        def raw_proba(self, examples):
            return np.array([float(e.text) for e in examples])

    rng = np.random.default_rng(0)
    exs = []
    for i in range(200):
        y = int(rng.random() < 0.2)
        exs.append(Example(id=str(i), group=str(i // 2), domain="dwc", setting="prior",
                           text=str(np.clip(0.3 + 0.4 * y + rng.normal(0, 0.1), 0.01, 0.99)), label=y,
                           fold=(i // 2) % 4))
    res = cv.cross_validate(Echo, exs)
    assert [f["fold"] for f in res["per_fold"]] == [0, 1, 2, 3]
    assert len(res["oof"]) == 200 and res["summary"]["auroc"]["mean"] > 0.9
    assert res["summary"]["ece"]["mean"] < np.mean([f["ece_uncalibrated"] for f in res["per_fold"]])
    assert res["calibrator"].fitted


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """parse -> split -> train (tracked, in a store of its own) -> evaluate, through the CLI."""
    tmp = tmp_path_factory.mktemp("eval")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    runner = CliRunner()
    letters = ROOT / "data" / "raw" / "dwc_letters" / "text"
    r = runner.invoke(app, ["extract", str(letters), "--out", str(tmp / "items.jsonl"), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["split", "--items", str(tmp / "items.jsonl"), "--out", str(tmp / "ex")])
    assert r.exit_code == 0, r.output
    for cfg in ("tiny_tfidf_lr", "majority"):
        r = runner.invoke(app, ["train", "--config", str(ROOT / "configs" / f"{cfg}.yaml"), "--setting", "prior",
                                "--examples", str(tmp / "ex" / "dwc-prior.jsonl"), "--runs-dir", str(tmp / "runs")])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", "--runs-dir", str(tmp / "runs"), "--reports", str(tmp / "reports"),
                            "--models", str(tmp / "models")])
    assert r.exit_code == 0, r.output
    yield tmp
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI")
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def test_split_freezes_the_latest_letters(tiny_runs):
    from pipeline.classify.examples import TEST_FOLD, read_examples
    from pipeline.io.records import read_jsonl

    summary = json.loads((tiny_runs / "ex" / "summary.json").read_text())
    assert set(summary) == {"dwc-rationale", "dwc-prior", "health-plan-prior"}
    assert summary["health-plan-prior"]["scored"] == 965 and summary["health-plan-prior"]["test"] == 193
    dates = {r["case_number"] or "": r["decision_date"] or "" for r in read_jsonl(tiny_runs / "items.jsonl")}
    exs = read_examples(tiny_runs / "ex" / "dwc-prior.jsonl")
    test = {e.group for e in exs if e.fold == TEST_FOLD}
    rest = {e.group for e in exs if e.fold != TEST_FOLD}
    assert abs(len(test) - 0.2 * len(dates)) <= 1 and not test & rest
    assert min(dates[g] for g in test) >= max(dates.get(g, "") for g in rest)  # the latest letters
    hp = read_examples(tiny_runs / "ex" / "health-plan-prior.jsonl")
    assert all(e.scored for e in hp if e.fold == TEST_FOLD)  # hard cases are never test rows


def test_training_never_sees_the_test_split(tiny_runs):
    from pipeline.classify.examples import TEST_FOLD, read_examples

    test = {e.id for e in read_examples(tiny_runs / "ex" / "dwc-prior.jsonl") if e.fold == TEST_FOLD}
    run = json.loads((tiny_runs / "runs" / "dwc-prior-majority" / "metrics.json").read_text())
    oof = [json.loads(x) for x in (tiny_runs / "runs" / "dwc-prior-majority" / "oof_predictions.jsonl")
           .read_text().splitlines()]
    assert test and not {r["id"] for r in oof} & test and run["n"] == len(oof)


def test_bootstrap_intervals_resample_letters():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, 300), 0, 1)
    point = metrics.compute_metrics(y, p, 0.5)
    by_item = metrics.bootstrap_intervals(y, p, 0.5)
    by_letter = metrics.bootstrap_intervals(y, p, 0.5, groups=[str(i // 10) for i in range(300)])
    for k in metrics.METRICS:
        assert by_item[k][0] <= point[k] <= by_item[k][1], k
    # 30 letters of 10 items are fewer independent units than 300 items: a wider interval
    width = lambda ci: ci["auroc"][1] - ci["auroc"][0]  # noqa: E731
    assert width(by_letter) > width(by_item) * 0.9


def test_comparison_table_champion_and_frozen_test(tiny_runs):
    from pipeline.classify import registry
    from pipeline.store import client

    md = (tiny_runs / "reports" / "comparison.md").read_text()
    data = json.loads((tiny_runs / "reports" / "comparison.json").read_text())
    assert "## dwc-prior" in md and "| majority |" in md and " [" in md
    for k in ("accuracy", "macro-F1", "AUROC", "AUPRC", "ECE"):
        assert k in md
    assert data["champions"] == {"dwc-prior": "dwc-prior-tiny_tfidf_lr"}  # majority never champions
    # one champion: the registry alias, and the folder exported from it
    champion = registry.alias_version("champion", "imr-dwc-prior")
    runs = json.loads((tiny_runs / "runs" / "dwc-prior-tiny_tfidf_lr" / "metrics.json").read_text())
    assert champion.run_id == runs["mlflow_run_id"]
    assert (tiny_runs / "models" / "dwc-prior" / "MLmodel").exists()
    # the champion alone is scored on the frozen test split, with intervals, beside CV
    from pipeline.classify.examples import TEST_FOLD, read_examples

    test = data["test"]["dwc-prior"]
    assert test["n"] == sum(e.fold == TEST_FOLD for e in read_examples(tiny_runs / "ex" / "dwc-prior.jsonl"))
    assert "Frozen test split" in md and test["summary"]["auroc"]["low"] <= test["summary"]["auroc"]["mean"]
    flat = json.loads((tiny_runs / "reports" / "metrics.json").read_text())
    assert set(flat["dwc-prior-majority"]) >= {"auroc", "auroc_std", "auroc_low", "auroc_high", "ece"}
    assert set(flat["dwc-prior-test"]) >= {"auroc", "auroc_low", "auroc_high"}
    assert "test_auroc" in client().get_run(runs["mlflow_run_id"]).data.metrics
    # its model card, in the folder and on the registered version
    card = (tiny_runs / "models" / "dwc-prior" / "README.md").read_text()
    assert "frozen test" in card and "Known limits" in card and runs["run"] in card
    assert client().get_model_version(champion.name, champion.version).description == card
    assert (tiny_runs / "runs" / "dwc-prior-majority" / "reliability.png").stat().st_size > 1000
