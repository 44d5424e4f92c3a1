"""What ``imr predict --model MODEL`` scores with: one small interface over every kind of model.

A `Scorer` turns a list of model inputs (`pipeline.classify.examples.Example`, built for the
model's setting) into ``p_overturned``, one float per input. `load_scorer` accepts:

- a directory written by ``imr export`` (holds ``imr-export.json``): ONNX Runtime serves it;
- a name under ``models/`` (``dwc-prior``) or any path to an MLflow model directory;
- an MLflow model URI (``models:/name@champion``, ``models:/name/3``, ``runs:/<id>/model``)
  or what `pipeline.classify.registry.resolve_model_uri` understands (``champion``,
  ``name@alias``, a run id).

Anything else is a `ModelError` naming what MODEL is instead (a tagger, a folder of
models, nothing at all).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from .. import project
from ..classify.examples import SETTINGS
from ..errors import ModelError, StoreError
from .onnx import EXPORT_MANIFEST


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
        from ..classify.pyfunc import frame_row

        frame = pd.DataFrame([frame_row(e) for e in examples])
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


def _kind_of(p: Path) -> str | None:
    """What a model folder holds: export, mlflow, classifier, tagger, or None."""
    if (p / EXPORT_MANIFEST).exists():
        return "export"
    if (p / "MLmodel").exists():
        return "mlflow"
    if (p / "config.cfg").exists():
        return "tagger"
    if (p / "meta.json").exists():
        return "classifier"
    return None


def _check_folder(p: Path, model: str) -> None:
    kind = _kind_of(p)
    if kind == "tagger":
        raise ModelError(f"--model {model} is a tagger (a spaCy pipeline), not an outcome classifier; "
                         "tag with `imr tag --model`, predict with a classifier such as models/dwc-prior")
    if kind is None:
        inside = sorted(c.name for c in p.iterdir() if c.is_dir() and _kind_of(c) in ("export", "mlflow", "classifier"))
        hint = f"it holds the models {', '.join(inside)}: name one" if inside else \
            "no classifier in it (train with `make run` or `imr train`)"
        raise ModelError(f"--model {model} is a folder but not a model; {hint}")


def resolve(model: str, setting: str | None = None, domain: str | None = None) -> str:
    """MODEL as typed -> a local model folder or an MLflow model URI (`ModelError` if neither)."""
    from ..classify.registry import resolve_model_uri

    ref = str(model).strip()
    if not ref:
        raise ModelError("--model is empty: give a folder in models/ (dwc-prior), a registry "
                         "reference (champion, imr-dwc-prior@champion) or a path")
    for p in (Path(ref), project.models_dir() / ref):
        if p.is_dir():
            _check_folder(p, ref)
            return str(p)
        if p.exists():
            raise ModelError(f"--model {ref} is a file; a model is a folder (models/dwc-prior)")
    try:
        return resolve_model_uri(ref, setting=setting, domain=domain)
    except StoreError as e:
        there = sorted(c.name for c in project.models_dir().glob("*") if c.is_dir() and _kind_of(c))
        raise ModelError(f"no model {ref!r}: not a folder ({', '.join(there) or 'models/ is empty'}), and "
                         f"in the registry: {e}") from None


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


def load_scorer(model: str, setting: str | None = None, domain: str | None = None) -> Scorer:
    """Load MODEL (see the module doc) as a `Scorer`. ``setting`` overrides the model's own
    (and, with ``domain``, picks the champion when MODEL is a bare alias)."""
    where = resolve(model, setting, domain)
    p = Path(where)
    if p.is_dir() and _kind_of(p) == "export":
        from .onnx import OnnxScorer  # onnxruntime: imported only when serving an export

        sc = OnnxScorer(p)
        if setting:
            sc.setting = setting
        return sc
    if p.is_dir() and _kind_of(p) == "classifier":
        from .. import classify
        from ..classify.base import load_meta

        meta = load_meta(p)
        info = meta.get("info", {})
        st = setting or info.get("setting") or guess_setting(model, where)
        clf = classify.load(p)
        return ClassifierScorer(clf, name=str(info.get("name") or model), setting=st or "prior",
                                threshold=float(clf.calibrator.threshold), path=str(p))
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from .. import store

    store.connect()
    try:
        pm = mlflow.pyfunc.load_model(where)
    except (MlflowException, OSError) as e:
        raise ModelError(f"cannot load the model {model!r} ({where}): {str(e).splitlines()[0]}") from None
    meta = model_metadata(pm)
    st = setting or meta.get("setting") or guess_setting(model, where)
    if st not in SETTINGS:
        raise ModelError(f"cannot tell the setting (rationale | prior) of {model!r}: pass --setting")
    name = str(meta.get("run") or meta.get("name") or model)
    return PyfuncScorer(pm, name=name, setting=st, threshold=float(meta.get("threshold", 0.5)),
                        uri=where, meta=meta)


def describe(scorer: Scorer) -> dict[str, Any]:
    return {"model": scorer.name, "setting": scorer.setting, "threshold": float(scorer.threshold)}
