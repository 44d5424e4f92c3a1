"""The registry workflow (`pipeline.registry`, `imr promote`, `imr runs`) on real runs of the
classifier's tiny configs, trained on real letters into a throw-away MLflow store."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline import registry

from .conftest import ROOT
from .mlflow_runs import restore_env, shared_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield shared_store(tmp_path_factory)
    restore_env()


def imr(store_dir, *args):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store_dir / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_train_run_is_registered(store):
    _, ids = store
    for rid in ids:
        versions = registry.versions_of_run(rid)
        assert len(versions) == 1 and versions[0].name in ("imr-dwc-prior", "imr-dwc-rationale")


def test_promote_run_then_version_and_resolve(store):
    _, ids = store
    prior_tfidf, rationale_tfidf, prior_majority = ids
    v = registry.promote(prior_tfidf, "champion")
    assert v.name == "imr-dwc-prior" and v.run_id == prior_tfidf
    assert registry.resolve_model_uri("champion") == "models:/imr-dwc-prior@champion"
    # the other prior run becomes challenger, by version number
    other = registry.versions_of_run(prior_majority)[0]
    registry.promote(f"{other.name}/{other.version}", "challenger")
    assert registry.alias_version("challenger").run_id == prior_majority
    assert registry.aliased_runs()[prior_tfidf] == ["champion"]
    # a champion on a second registered model: a bare alias needs the setting
    registry.promote(rationale_tfidf, "champion")
    with pytest.raises(LookupError, match="several registered models"):
        registry.resolve_model_uri("champion")
    assert registry.resolve_model_uri("champion", setting="rationale") == "models:/imr-dwc-rationale@champion"
    assert registry.resolve_model_uri("imr-dwc-prior@challenger") == "models:/imr-dwc-prior@challenger"
    assert registry.resolve_model_uri(prior_majority) == other.uri
    # moving the alias within a model: the previous version loses it
    registry.promote(prior_majority, "champion")
    assert registry.alias_version("champion", setting="prior").run_id == prior_majority
    assert "champion" not in registry.aliased_runs().get(prior_tfidf, [])
    registry.promote(prior_tfidf, "champion")  # back, for the dashboard tests
    with pytest.raises(LookupError):
        registry.promote("no-such-run", "champion")


def test_champion_loads_and_scores(store):
    import mlflow.pyfunc
    import pandas as pd

    registry.promote(store[1][0], "champion")
    model = mlflow.pyfunc.load_model(registry.resolve_model_uri("champion", setting="prior"))
    out = model.predict(pd.DataFrame({"text": ["Item: Physical therapy 12 sessions\n"
                                               "Claims administrator guideline: MTUS\nCase summary: low back pain"]}))
    from pipeline.models import as_p_overturned

    p = as_p_overturned(out, 1)
    assert 0.0 <= p[0] <= 1.0


def test_summarise_metrics_names():
    got = registry.summarise_metrics({"auroc_mean": 0.8, "auroc_std": 0.1, "fold_auroc": 0.7,
                                      "cv_ece_mean": 0.05, "cv_seconds": 3.0, "macro_f1": 0.6})
    assert got == {"auroc": (0.8, 0.1), "ece": (0.05, None), "cv_seconds": (3.0, None), "macro_f1": (0.6, None)}
    assert registry.lower_is_better("ece") and not registry.lower_is_better("auroc")


def test_cli_runs_sorted_and_promote(store):
    d, ids = store
    proc = imr(d, "promote", ids[1], "--alias", "challenger")
    assert proc.returncode == 0, proc.stderr
    assert "imr-dwc-rationale" in proc.stdout and "@challenger" in proc.stdout
    rows = registry.run_rows()
    for metric, lower in (("auroc", False), ("ece", True)):
        proc = imr(d, "runs", "--sort", metric)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert "model" in lines[0] and "setting" in lines[0] and "auroc" in lines[0] and "date" in lines[0]
        body = [ln for ln in lines[2:] if ln.strip()]
        assert len(body) == len(ids)  # comparison runs are not training runs
        expected = sorted(rows, key=lambda r: r.metrics[metric][0], reverse=not lower)
        assert [ln.split()[0] for ln in body] == [r.run_id[:8] for r in expected]
        assert "challenger" in next(ln for ln in body if ln.startswith(ids[1][:8]))
    bad = imr(d, "runs", "--sort", "no_such_metric")
    assert bad.returncode == 1 and "known:" in bad.stderr
