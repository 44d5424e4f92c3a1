"""What ``imr predict --model MODEL`` scores with: one small interface over every kind of model.

A `Scorer` turns a list of model inputs (`pipeline.examples.Example`, built for the model's
setting) into ``p_overturned``, one float per input. `load_scorer` accepts:

- a directory written by ``imr export`` (holds ``imr-export.json``): ONNX Runtime serves it;
- a name under ``models/`` (``dwc-prior``) or any path to an MLflow model directory;
- an MLflow model URI (``models:/name@champion``, ``models:/name/3``, ``runs:/<id>/model``)
  or what `pipeline.registry.resolve_model_uri` understands (``champion``, ``name@alias``,
  a run id).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "models"
EXPORT_MANIFEST = "imr-export.json"
SETTINGS = ("rationale", "prior")


class Scorer(Protocol):
    name: str  # what the output's ``model`` column says
    setting: str  # rationale | prior: which inputs the model reads
    threshold: float  # p_overturned >= threshold -> Overturned

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        """p_overturned for each `Example` (1-D float array)."""


@dataclass
class FunctionScorer:
    """A plain callable (input texts -> p_overturned) as a `Scorer` (tests, custom engines)."""

    fn: Callable[[Sequence[str]], Any]
    setting: str = "prior"
    name: str = "function"
    threshold: float = 0.5

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.fn([e.text for e in examples]), dtype=np.float64).reshape(-1)


def as_p_overturned(out: Any, n: int) -> np.ndarray:
    """A model's output (p vector, (n, 2) probabilities, a DataFrame with ``p_overturned``
    or ``proba``/``probability`` columns, a list of dicts) as a 1-D p_overturned array."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        for col in ("p_overturned", "probability", "proba", "score"):
            if col in out.columns:
                return np.asarray(out[col], dtype=np.float64).reshape(-1)
        out = out.to_numpy()
    elif isinstance(out, pd.Series):
        out = out.to_numpy()
    elif isinstance(out, list) and out and isinstance(out[0], dict):
        return np.asarray([d["p_overturned"] for d in out], dtype=np.float64)
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        arr = arr[:, 1]
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"the model returned {arr.shape[0]} scores for {n} inputs")
    return arr


@dataclass
class PyfuncScorer:
    """An MLflow pyfunc model (the classifier's saved models): DataFrame ``text`` in."""

    model: Any
    name: str
    setting: str
    threshold: float = 0.5
    uri: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        import pandas as pd

        if not len(examples):
            return np.zeros(0)
        frame = pd.DataFrame({"id": [e.id for e in examples], "text": [e.text for e in examples],
                              "specialty": [getattr(e, "specialty", None) for e in examples]})
        return as_p_overturned(self.model.predict(frame), len(examples))


@dataclass
class ClassifierScorer:
    """A classifier folder saved by `pipeline.classifiers` (``meta.json`` + the model)."""

    classifier: Any
    name: str
    setting: str
    threshold: float = 0.5
    path: str = ""

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        if not len(examples):
            return np.zeros(0)
        return np.asarray(self.classifier.predict_proba(list(examples)), dtype=np.float64).reshape(-1)


def classifier_dir(root: str | Path) -> Path | None:
    """The `pipeline.classifiers` folder (holding ``meta.json``) at or inside ``root``."""
    root = Path(root)
    if (root / "meta.json").exists():
        return root
    found = sorted(root.rglob("meta.json"), key=lambda p: len(p.parts)) if root.is_dir() else []
    return found[0].parent if found else None


def model_metadata(pyfunc_model: Any) -> dict[str, Any]:
    """The ``metadata`` of an MLflow model's MLmodel file, plus what its python model says."""
    meta: dict[str, Any] = {}
    info = getattr(pyfunc_model, "metadata", None)
    if info is not None and getattr(info, "metadata", None):
        meta.update(info.metadata)
    try:
        inner = pyfunc_model.unwrap_python_model()
    except Exception:
        inner = None
    for attr in ("setting", "threshold", "name", "max_length"):
        v = getattr(inner, attr, None)
        if v is not None and attr not in meta:
            meta[attr] = v
    clf = getattr(inner, "classifier", None)
    if clf is not None:
        for k, v in (getattr(clf, "info", None) or {}).items():
            meta.setdefault(k, v)
        cal = getattr(clf, "calibrator", None)
        if cal is not None and getattr(cal, "threshold", None) is not None:
            meta.setdefault("threshold", cal.threshold)
    for attr in ("meta", "config", "params"):
        d = getattr(inner, attr, None)
        if isinstance(d, dict):
            for k, v in d.items():
                meta.setdefault(k, v)
    return meta


def resolve(model: str) -> str:
    """MODEL as typed -> a local path or an MLflow model URI."""
    ref = str(model).strip()
    p = Path(ref)
    if p.exists():
        return str(p)
    if (MODELS_DIR / ref).exists():
        return str(MODELS_DIR / ref)
    from .registry import resolve_model_uri

    return resolve_model_uri(ref)


def guess_setting(*names: str) -> str | None:
    for n in names:
        for s in SETTINGS:
            if n and s in str(n):
                return s
    return None


def quiet_libraries() -> None:
    """No progress bars or info logs from transformers / MLflow (``--quiet``, cron jobs)."""
    import logging
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except Exception:
        pass
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def load_scorer(model: str, setting: str | None = None) -> Scorer:
    """Load MODEL (see the module doc) as a `Scorer`. ``setting`` overrides the model's own."""
    where = resolve(model)
    p = Path(where)
    if p.is_dir() and (p / EXPORT_MANIFEST).exists():
        from .export import OnnxScorer

        sc = OnnxScorer(p)
        if setting:
            sc.setting = setting
        return sc
    if p.is_dir() and (p / "meta.json").exists() and not (p / "MLmodel").exists():
        from . import classifiers
        from .classifiers.base import load_meta

        meta = load_meta(p)
        info = meta.get("info", {})
        st = setting or info.get("setting") or guess_setting(model, where)
        clf = classifiers.load(p)
        return ClassifierScorer(clf, name=str(info.get("name") or model), setting=st or "prior",
                                threshold=float(clf.calibrator.threshold), path=str(p))
    import mlflow.pyfunc

    from .registry import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    pm = mlflow.pyfunc.load_model(where)
    meta = model_metadata(pm)
    st = setting or meta.get("setting") or guess_setting(model, where)
    if st not in SETTINGS:
        raise ValueError(f"cannot tell the setting (rationale | prior) of {model!r}: "
                         "pass --setting")
    name = str(meta.get("run") or meta.get("name") or model)
    return PyfuncScorer(pm, name=name, setting=st, threshold=float(meta.get("threshold", 0.5)),
                        uri=where, meta=meta)


def describe(scorer: Scorer) -> dict[str, Any]:
    return {"model": scorer.name, "setting": scorer.setting, "threshold": float(scorer.threshold)}


def dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)
