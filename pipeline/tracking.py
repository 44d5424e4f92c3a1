"""Training runs tracked in MLflow.

Tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo>/mlflow.db`` with
artifacts under ``<repo>/mlartifacts`` (both git-ignored). One MLflow run per
(domain, setting, model): its params (``model``, ``setting``…), per-fold metrics (``fold_<metric>``, ``step`` = fold),
``<metric>_mean`` / ``<metric>_std``, the out-of-fold predictions (``oof_predictions.jsonl``),
the reliability plot, the data version (hash of the examples file), the git commit, and
the final model as a ``pyfunc`` (signature + input example) registered as
``imr-<domain>-<setting>``. The same pyfunc folder is written to ``models/candidates/<run>``
(mlflow.pyfunc.save_model format) for ``imr evaluate`` to export the champions.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "imr-outcome"
PIP_REQUIREMENTS = ["torch==2.13.0", "transformers==5.24.0", "scikit-learn==1.9.1",
                    "mlflow==3.17.2", "pandas", "numpy", "pyyaml"]


# ------------------------------------------------------------------ configs

def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path, setting: str | None = None) -> dict[str, Any]:
    """A model config (configs/<model>.yaml) resolved for one setting (its ``overrides``)."""
    cfg = yaml.safe_load(Path(path).read_text())
    settings = cfg.get("settings", ["prior"])
    setting = setting or settings[0]
    if setting not in settings:
        raise ValueError(f"{path} is for settings {settings}, not {setting!r}")
    cfg = deep_merge({k: v for k, v in cfg.items() if k != "overrides"},
                     (cfg.get("overrides") or {}).get(setting, {}))
    cfg["setting"] = setting
    cfg["examples"] = cfg.get("examples", "data/examples/{domain}-{setting}.jsonl").format(
        domain=cfg["domain"], setting=setting)
    cfg["run"] = f"{cfg['domain']}-{setting}-{cfg['name']}"
    return cfg


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, list) else ",".join(map(str, v))
    return out


# ------------------------------------------------------------------ mlflow

def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}"


def setup_mlflow(experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists."""
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = None
        if uri.startswith("sqlite:///"):
            artifacts = (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)
    return uri


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_pyfunc(classifier, path: str | Path, input_example=None) -> Path:
    """Write ``classifier`` as an MLflow pyfunc model folder (mlflow.pyfunc.save_model)."""
    import shutil

    import mlflow.pyfunc

    from .classifiers.pyfunc import ARTIFACT, ImrPyfuncModel, signature

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    with tempfile.TemporaryDirectory(prefix="imr-clf-") as tmp:
        classifier.save(Path(tmp) / "classifier")
        mlflow.pyfunc.save_model(
            path, python_model=ImrPyfuncModel(), artifacts={ARTIFACT: str(Path(tmp) / "classifier")},
            code_paths=[str(ROOT / "pipeline")], signature=signature(), input_example=input_example,
            pip_requirements=PIP_REQUIREMENTS)
    return path


def input_example(examples) -> Any:
    import pandas as pd

    ex = examples[:2]
    return pd.DataFrame({"id": [e.id for e in ex], "text": [e.text for e in ex]})


def log_run(cfg: dict[str, Any], result: dict[str, Any], model_dir: Path, files: list[Path],
            register: bool = True) -> str:
    """One MLflow run: params, per-fold + mean metrics, plots, data version, git commit, and the
    pyfunc model (from ``model_dir``), registered as imr-<domain>-<setting>."""
    import mlflow

    setup_mlflow()
    with mlflow.start_run(run_name=cfg["run"]) as run:
        mlflow.set_tags({"domain": cfg["domain"], "setting": cfg["setting"], "model": cfg["name"],
                         "kind": cfg["kind"], "git_commit": result["git_commit"],
                         "data_version": result["data_version"], "config": cfg.get("config_path", "")})
        params = flatten({k: v for k, v in cfg.items() if k not in ("description", "name")})
        params["model"] = cfg["name"]
        params["data_version"] = result["data_version"]
        params["git_commit"] = result["git_commit"]
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        for f in result["per_fold"]:
            mlflow.log_metrics({f"fold_{k}": float(v) for k, v in f.items()
                                if k not in ("fold",) and v == v}, step=int(f["fold"]))
        mlflow.log_metrics({f"{k}_{s}": v[s] for k, v in result["summary"].items()
                            for s in ("mean", "std") if v[s] == v[s]})
        mlflow.log_metrics({"cv_seconds": result["cv_seconds"], "fit_seconds": result["fit_seconds"]})
        for f in files:
            mlflow.log_artifact(str(f))
        from .classifiers.pyfunc import ARTIFACT, ImrPyfuncModel

        mlflow.pyfunc.log_model(
            name="model", python_model=ImrPyfuncModel(),
            artifacts={ARTIFACT: str(model_dir / "artifacts" / "classifier")},
            code_paths=[str(ROOT / "pipeline")], signature=_signature(),
            input_example=result["input_example"], pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=f"imr-{cfg['domain']}-{cfg['setting']}" if register else None)
        return run.info.run_id


def _signature():
    from .classifiers.pyfunc import signature

    return signature()


# ------------------------------------------------------------------ the train command

def train(config_path: str | Path, setting: str | None = None, examples_path: str | Path | None = None,
          runs_dir: str | Path = "reports/runs", candidates_dir: str | Path = "models/candidates",
          track: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Cross-validate, fit the final model on all examples, save it as a pyfunc folder, log
    everything to MLflow. Returns the run's metrics record (also reports/runs/<run>/metrics.json)."""
    from .classifiers import build
    from .evaluate import cross_validate, plot_reliability
    from .examples import file_hash, read_examples

    cfg = load_config(config_path, setting)
    cfg["config_path"] = str(config_path)
    path = Path(examples_path or cfg["examples"])
    examples = read_examples(path)
    if not cfg.get("train_on_unscored", True):  # health-plan hard cases: left out of training too
        examples = [e for e in examples if e.scored]
    if cfg.get("limit"):  # tiny configs for tests
        examples = [e for e in examples if e.fold >= 0][: int(cfg["limit"])]
    kind, params = cfg["kind"], cfg.get("params") or {}
    log(f"train {cfg['run']}: {len(examples)} examples from {path}")
    t0, c0 = time.time(), time.process_time()
    cv = cross_validate(lambda: build(kind, params), examples, log=log)
    t1, c1 = time.time(), time.process_time()
    final = build(kind, params).fit(examples)
    cpu = {"cv_cpu_seconds": c1 - c0, "fit_cpu_seconds": time.process_time() - c1}
    final.calibrator = cv["calibrator"]
    final.info = {"domain": cfg["domain"], "setting": cfg["setting"], "model": cfg["name"],
                  "run": cfg["run"]}
    fit_seconds = time.time() - t1
    log(f"{cfg['run']}: CV {t1 - t0:.0f}s, final fit {fit_seconds:.0f}s")
    out = Path(runs_dir) / cfg["run"]
    out.mkdir(parents=True, exist_ok=True)
    scored = [e for e in examples if e.scored]
    result = {
        "run": cfg["run"], "domain": cfg["domain"], "setting": cfg["setting"], "model": cfg["name"],
        "kind": kind, "n": len(scored), "n_overturned": sum(e.label for e in scored),
        "n_train_only": len(examples) - len(scored),
        "summary": cv["summary"], "per_fold": cv["per_fold"], "pooled": cv["pooled"],
        "reliability": cv["reliability"], "calibrator": cv["calibrator"].to_dict(),
        "cv_seconds": cv["cv_seconds"], "fit_seconds": fit_seconds, **cpu,
        "data_version": file_hash(path), "git_commit": git_commit(), "params": params,
    }
    with (out / "oof_predictions.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in cv["oof"])
    plot = plot_reliability(cv["reliability"], out / "reliability.png",
                            f"{cfg['run']} (ECE {cv['summary']['ece']['mean']:.3f})")
    result["input_example"] = input_example(scored or examples)
    model_dir = save_pyfunc(final, Path(candidates_dir) / cfg["run"], result["input_example"])
    result["model_dir"] = str(model_dir)
    if track:
        (out / "metrics.json").write_text(json.dumps(_public(result), indent=2) + "\n")
        result["mlflow_run_id"] = log_run(cfg, result, model_dir,
                                          [out / "metrics.json", out / "oof_predictions.jsonl", plot])
        result["tracking_uri"] = tracking_uri()
    (out / "metrics.json").write_text(json.dumps(_public(result), indent=2) + "\n")
    return result


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "input_example"}
