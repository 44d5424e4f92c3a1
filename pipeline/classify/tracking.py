"""``imr train``: one cross-validated, MLflow-tracked training run per (domain, setting, model).

Each run logs to the ``imr-outcome`` experiment of the project's store (`pipeline.store`):
its params (``model``, ``setting``...), per-fold metrics (``fold_<metric>``, ``step`` = fold),
``<metric>_mean`` / ``<metric>_std``, the out-of-fold predictions (``oof_predictions.jsonl``),
the reliability plot, the data version (hash of the examples file), the git commit, and
the final model (fit on all examples) as a ``pyfunc`` (signature + input example)
registered as ``imr-<domain>-<setting>``. The same metrics go to
``reports/runs/<run>/metrics.json`` for ``imr evaluate`` and DVC.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .. import project, store
from .config import RunConfig, load_config

PIP_REQUIREMENTS = ["torch==2.13.0", "transformers==5.24.0", "scikit-learn==1.9.1",
                    "mlflow==3.17.2", "pandas", "numpy", "pyyaml"]


def git_commit() -> str:
    root = project.home()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _pyfunc_kwargs(classifier_dir: Path, input_example) -> dict[str, Any]:
    """What `mlflow.pyfunc.save_model` / `log_model` need for our classifiers: the saved
    classifier as an artifact, the ``pipeline`` package as code, the signature."""
    from .pyfunc import ARTIFACT, ImrPyfuncModel, signature

    return dict(python_model=ImrPyfuncModel(), artifacts={ARTIFACT: str(classifier_dir)},
                code_paths=[str(project.PACKAGE)], signature=signature(), input_example=input_example,
                pip_requirements=PIP_REQUIREMENTS)


def save_pyfunc(classifier, path: str | Path, input_example=None) -> Path:
    """Write ``classifier`` as an MLflow pyfunc model folder (mlflow.pyfunc.save_model)."""
    import shutil

    import mlflow.pyfunc

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    with tempfile.TemporaryDirectory(prefix="imr-clf-") as tmp:
        classifier.save(Path(tmp) / "classifier")
        mlflow.pyfunc.save_model(path, **_pyfunc_kwargs(Path(tmp) / "classifier", input_example))
    return path


def input_example(examples) -> Any:
    import pandas as pd

    ex = examples[:2]
    return pd.DataFrame({"id": [e.id for e in ex], "text": [e.text for e in ex]})


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, list) else ",".join(map(str, v))
    return out


def log_run(cfg: RunConfig, result: dict[str, Any], classifier, files: list[Path]) -> str:
    """One MLflow run: params, per-fold + summary metrics, files, data version, git commit, and
    the pyfunc model, registered as imr-<domain>-<setting>."""
    import mlflow

    from .registry import model_name

    m = cfg.model
    store.use_experiment(store.OUTCOME_EXPERIMENT)
    with mlflow.start_run(run_name=cfg.run) as run:
        mlflow.set_tags({"domain": m.domain, "setting": cfg.setting, "model": m.name, "kind": m.kind,
                         "git_commit": result["git_commit"], "data_version": result["data_version"],
                         "config": cfg.config_path})
        params = {"model": m.name, "kind": m.kind, "domain": m.domain, "setting": cfg.setting,
                  "examples": cfg.examples, "train_on_unscored": m.train_on_unscored,
                  "data_version": result["data_version"], "git_commit": result["git_commit"],
                  **flatten(m.params, "params.")}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        for f in result["per_fold"]:
            mlflow.log_metrics({f"fold_{k}": float(v) for k, v in f.items()
                                if k != "fold" and v == v}, step=int(f["fold"]))
        mlflow.log_metrics({f"{k}_{s}": v[s] for k, v in result["summary"].items()
                            for s in ("mean", "std", "low", "high") if s in v and v[s] == v[s]})
        mlflow.log_metrics({"cv_seconds": result["cv_seconds"], "fit_seconds": result["fit_seconds"]})
        for f in files:
            mlflow.log_artifact(str(f))
        with tempfile.TemporaryDirectory(prefix="imr-clf-") as tmp:
            classifier.save(Path(tmp) / "classifier")
            mlflow.pyfunc.log_model(name="model", registered_model_name=model_name(m.domain, cfg.setting),
                                    **_pyfunc_kwargs(Path(tmp) / "classifier", result["input_example"]))
        return run.info.run_id


def train(config_path: str | Path, setting: str | None = None, examples_path: str | Path | None = None,
          runs_dir: str | Path = "reports/runs", track: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Cross-validate, fit the final model on all examples, log everything to MLflow (with
    ``track``). Returns the run's metrics record (also reports/runs/<run>/metrics.json)."""
    from . import build
    from .cv import cross_validate
    from .examples import TEST_FOLD, file_hash, read_examples
    from .plots import plot_reliability

    cfg = load_config(config_path, setting)
    m = cfg.model
    path = Path(examples_path or cfg.examples)
    if not path.is_file():
        from ..errors import InputError

        raise InputError(f"no examples at {path}: run `imr split` first")
    examples = [e for e in read_examples(path) if e.fold != TEST_FOLD]  # the frozen test: `imr evaluate`
    if not m.train_on_unscored:  # health-plan hard cases: left out of training too
        examples = [e for e in examples if e.scored]
    if m.limit:  # tiny configs for tests
        examples = [e for e in examples if e.fold >= 0][: int(m.limit)]
    if m.extra_training:  # another domain's rows: training only, in every fold, never scored
        extra = [e for e in read_examples(m.extra_training) if e.fold != TEST_FOLD and e.scored]
        for e in extra:
            e.fold, e.scored = -1, False
        examples = examples + extra
    build(m.kind, m.params)  # a bad parameter fails here, before any training
    log(f"train {cfg.run}: {len(examples)} examples from {path}")
    t0, c0 = time.time(), time.process_time()
    cv = cross_validate(lambda: build(m.kind, m.params), examples, log=log)
    t1, c1 = time.time(), time.process_time()
    final = build(m.kind, m.params).fit(examples)
    cpu = {"cv_cpu_seconds": c1 - c0, "fit_cpu_seconds": time.process_time() - c1}
    final.calibrator = cv["calibrator"]
    final.info = {"domain": m.domain, "setting": cfg.setting, "model": m.name, "run": cfg.run}
    fit_seconds = time.time() - t1
    log(f"{cfg.run}: CV {t1 - t0:.0f}s, final fit {fit_seconds:.0f}s")
    out = Path(runs_dir) / cfg.run
    out.mkdir(parents=True, exist_ok=True)
    scored = [e for e in examples if e.scored]
    n_extra = len(extra) if m.extra_training else 0
    result = {
        "run": cfg.run, "domain": m.domain, "setting": cfg.setting, "model": m.name,
        "kind": m.kind, "n": len(scored), "n_overturned": sum(e.label for e in scored),
        "n_train_only": len(examples) - len(scored) - n_extra, "n_extra_training": n_extra,
        "summary": cv["summary"], "per_fold": cv["per_fold"], "pooled": cv["pooled"],
        "reliability": cv["reliability"], "calibrator": cv["calibrator"].to_dict(),
        "cv_seconds": cv["cv_seconds"], "fit_seconds": fit_seconds, **cpu,
        "data_version": file_hash(path), "git_commit": git_commit(), "params": m.params,
        "examples": str(path),
    }
    with (out / "oof_predictions.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in cv["oof"])
    plot = plot_reliability(cv["reliability"], out / "reliability.png",
                            f"{cfg.run} (ECE {cv['summary']['ece']['mean']:.3f})")
    result["input_example"] = input_example(scored or examples)
    if track:
        (out / "metrics.json").write_text(json.dumps(_public(result), indent=2) + "\n")
        result["mlflow_run_id"] = log_run(cfg, result, final,
                                          [out / "metrics.json", out / "oof_predictions.jsonl", plot])
        result["tracking_uri"] = store.tracking_uri()
    result["classifier"] = final
    (out / "metrics.json").write_text(json.dumps(_public(result), indent=2) + "\n")
    return result


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("input_example", "classifier")}
