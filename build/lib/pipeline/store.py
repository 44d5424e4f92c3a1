"""The MLflow tracking store every command uses: one place for its URI and experiments.

The store is ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<project>/mlflow.db`` with run
artifacts under ``<project>/mlartifacts`` (`pipeline.project`). The registry lives in the
same store. Experiments: ``imr-outcome`` (outcome classifiers, `imr train`) and ``tagger``
(`imr evaluate-tagger`).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from . import project

OUTCOME_EXPERIMENT = "imr-outcome"
TAGGER_EXPERIMENT = "tagger"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project.path('mlflow.db')}"


def artifact_root() -> str:
    """Where a new experiment keeps its runs' artifacts: ``mlartifacts/`` beside a sqlite store."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return project.path("mlartifacts").as_uri()


def _quiet() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per model copy otherwise
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def connect() -> str:
    """Point MLflow (tracking and registry) at the store; returns its URI."""
    import mlflow

    _quiet()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    """Connect, create the experiment if needed (artifacts under `artifact_root`), make it active."""
    import mlflow

    uri = connect()
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifact_root())
    mlflow.set_experiment(name)
    return uri


def client():
    """An ``MlflowClient`` on the store (tracking and registry)."""
    from mlflow.tracking import MlflowClient

    uri = connect()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
