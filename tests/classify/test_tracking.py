"""`imr train` end to end on a tiny transformer config: CV, MLflow run (params, per-fold and
mean metrics, plot, data version, git commit), registered pyfunc model, and a save/load
round trip through MLflow pyfunc giving identical predictions."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ..conftest import ROOT


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, monkeypatch_module):
    from pipeline.classify.examples import letter_examples, assign_folds, write_examples
    from pipeline.io.sources import read_records
    from pipeline.io.schema import ParseError
    from ..conftest import LETTERS_TXT

    tmp = tmp_path_factory.mktemp("track")
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    letters = [r for r in read_records(sorted(LETTERS_TXT.glob("*.txt"))[:40]) if not isinstance(r, ParseError)]
    exs = assign_folds(letter_examples(letters, "prior"), k=2, seed=13)
    write_examples(tmp / "dwc-prior.jsonl", exs)
    from pipeline.classify.tracking import train

    result = train(ROOT / "configs" / "tiny_transformer.yaml", "prior", tmp / "dwc-prior.jsonl",
                   runs_dir=tmp / "runs", log=lambda m: None)
    return tmp, result, exs


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_run_is_logged_with_metrics_params_and_versions(tiny_run):
    from mlflow.tracking import MlflowClient

    tmp, result, _ = tiny_run
    assert result["tracking_uri"].startswith("sqlite:///") and str(tmp) in result["tracking_uri"]
    c = MlflowClient(result["tracking_uri"])
    run = c.get_run(result["mlflow_run_id"])
    for k in ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "auprc", "ece"):
        assert f"{k}_mean" in run.data.metrics or k in ("balanced_accuracy", "auroc", "auprc")
        assert f"{k}_std" in run.data.metrics or k in ("balanced_accuracy", "auroc", "auprc")
    assert run.data.params["model"] == "tiny_transformer" and run.data.params["setting"] == "prior"
    assert run.data.params["data_version"] == result["data_version"] and len(result["data_version"]) == 12
    assert run.data.tags["git_commit"] == result["git_commit"]
    folds = c.get_metric_history(run.info.run_id, "fold_accuracy")
    assert sorted(m.step for m in folds) == [f["fold"] for f in result["per_fold"]]
    arts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "oof_predictions.jsonl", "reliability.png"} <= arts
    versions = c.search_model_versions("name='imr-dwc-prior'")
    assert any(v.run_id == run.info.run_id for v in versions)
    saved = json.loads((tmp / "runs" / "dwc-prior-tiny_transformer" / "metrics.json").read_text())
    assert saved["mlflow_run_id"] == run.info.run_id and saved["n"] == 24


def test_pyfunc_round_trip_gives_identical_predictions(tiny_run):
    import mlflow.pyfunc

    from pipeline.classify import load
    from pipeline.classify.tracking import save_pyfunc

    tmp, result, exs = tiny_run
    frame = pd.DataFrame({"id": [e.id for e in exs[:10]], "text": [e.text for e in exs[:10]]})
    folder = save_pyfunc(result["classifier"], tmp / "saved")
    clf = load(folder / "artifacts" / "classifier")
    assert clf.kind == "transformer" and (folder / "artifacts" / "classifier" / "hf" / "config.json").exists()
    direct = clf.predict_proba(exs[:10])
    assert np.array_equal(direct, result["classifier"].predict_proba(exs[:10]))
    for uri in (str(folder), f"runs:/{result['mlflow_run_id']}/model"):
        out = mlflow.pyfunc.load_model(uri).predict(frame)
        assert list(out.columns) == ["id", "prediction", "p_overturned", "setting"]
        assert list(out["id"]) == list(frame["id"]) and set(out["setting"]) == {"prior"}
        assert np.array_equal(out["p_overturned"].to_numpy(), direct)
        assert list(out["prediction"]) == ["Overturned" if p >= clf.calibrator.threshold else "Upheld"
                                           for p in direct]
