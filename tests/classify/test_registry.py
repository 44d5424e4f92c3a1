"""The registry workflow (`pipeline.classify.registry`, `imr promote`, `imr runs`) on real runs
of the classifier's tiny configs, trained on real letters into a throw-away MLflow store."""
from __future__ import annotations

import pytest

from pipeline.classify import registry
from pipeline.errors import StoreError
from pipeline.report.runs import logged_metrics, run_rows

from ..conftest import imr


def test_every_train_run_is_registered(mlflow_store):
    _, ids = mlflow_store
    for rid in ids:
        versions = registry.versions_of_run(rid)
        assert len(versions) == 1 and versions[0].name in ("imr-dwc-prior", "imr-dwc-rationale")


def test_promote_run_then_version_and_resolve(mlflow_store):
    _, ids = mlflow_store
    prior_tfidf, rationale_tfidf, prior_majority = ids
    v = registry.promote(prior_tfidf, "champion")
    assert v.name == "imr-dwc-prior" and v.run_id == prior_tfidf
    # the other prior run becomes challenger, by version number
    other = registry.versions_of_run(prior_majority)[0]
    registry.promote(f"{other.name}/{other.version}", "challenger")
    assert registry.alias_version("challenger").run_id == prior_majority
    assert registry.aliased_runs()[prior_tfidf] == ["champion"]
    # a champion on a second registered model: a bare alias needs the setting
    registry.promote(rationale_tfidf, "champion")
    with pytest.raises(StoreError, match="several registered models"):
        registry.resolve_model_uri("champion")
    assert registry.resolve_model_uri("champion", setting="rationale") == "models:/imr-dwc-rationale@champion"
    assert registry.resolve_model_uri("champion", setting="prior", domain="dwc") == "models:/imr-dwc-prior@champion"
    assert registry.resolve_model_uri("imr-dwc-prior@challenger") == "models:/imr-dwc-prior@challenger"
    assert registry.resolve_model_uri(prior_majority) == other.uri
    # moving the alias within a model: the previous version loses it
    registry.promote(prior_majority, "champion")
    assert registry.alias_version("champion", setting="prior").run_id == prior_majority
    assert "champion" not in registry.aliased_runs().get(prior_tfidf, [])
    registry.promote(prior_tfidf, "champion")  # back, for the dashboard tests
    with pytest.raises(StoreError):
        registry.promote("no-such-run", "champion")


def test_champion_loads_and_scores(mlflow_store):
    import mlflow.pyfunc
    import pandas as pd

    from pipeline.serve.scorers import as_p_overturned

    registry.promote(mlflow_store[1][0], "champion")
    model = mlflow.pyfunc.load_model(registry.resolve_model_uri("champion", setting="prior"))
    out = model.predict(pd.DataFrame({"text": ["Item: Physical therapy 12 sessions\n"
                                               "Claims administrator guideline: MTUS\nCase summary: low back pain"]}))
    p = as_p_overturned(out, 1)
    assert 0.0 <= p[0] <= 1.0


def test_logged_metrics_are_grouped_per_metric():
    logged = {"auroc_mean": 0.8, "auroc_std": 0.1, "auroc_low": 0.7, "auroc_high": 0.9, "fold_auroc": 0.7,
              "ece_mean": 0.05, "test_auroc": 0.66, "test_auroc_low": 0.5, "test_auroc_high": 0.8, "cv_seconds": 3.0}
    assert logged_metrics(logged) == {"auroc": {"mean": 0.8, "std": 0.1, "low": 0.7, "high": 0.9},
                                      "ece": {"mean": 0.05}}
    assert logged_metrics(logged, "test_") == {"auroc": {"mean": 0.66, "low": 0.5, "high": 0.8}}


def test_cli_runs_sorted_and_promote_exports_the_champion(mlflow_store, tmp_path):
    d, ids = mlflow_store
    proc = imr("promote", ids[1], "--alias", "challenger")
    assert proc.returncode == 0, proc.stderr
    assert "imr-dwc-rationale" in proc.stdout and "@challenger" in proc.stdout
    proc = imr("promote", ids[0], "--alias", "champion", "--models", str(tmp_path / "models"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "models" / "dwc-prior" / "MLmodel").is_file()
    rows = {r.run_id: r for r in run_rows()}
    for metric, lower in (("auroc", False), ("ece", True)):
        proc = imr("runs", "--sort", metric)
        assert proc.returncode == 0, proc.stderr
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        assert "model" in lines[0] and "task" in lines[0] and "AUROC" in lines[0] and "date" in lines[0]
        body = lines[1:]
        assert len(body) == len(ids)  # comparison runs are not training runs
        names = [ln.split()[0] for ln in body]
        values = [rows[next(r for r in ids if rows[r].name == n)].value(metric) for n in names]
        assert values == sorted(values, reverse=not lower)
        assert "challenger" in next(ln for ln in body if ln.startswith(rows[ids[1]].name))
    bad = imr("runs", "--sort", "no_such_metric")
    assert bad.returncode == 2 and "no_such_metric" in bad.stderr and "Traceback" not in bad.stderr
