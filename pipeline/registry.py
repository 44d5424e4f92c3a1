"""The model registry workflow: which runs exist, which model serves.

* ``promote(ref, alias)`` points a registry alias (``champion``, ``challenger``) at a
  registered model version, given a run id, a version (``3``, ``name/3``,
  ``models:/name/3``) or a run name.
* ``resolve_model_uri(ref)`` turns what a user types after ``imr predict --model``
  (``champion``, ``challenger``, ``name@alias``, a run id, a version, a path or any
  MLflow model URI) into a URI that ``mlflow.pyfunc.load_model`` accepts.
* ``runs_table(...)`` renders the training runs as a terminal table, sortable by any
  metric.

The store is the project's own: ``MLFLOW_TRACKING_URI`` if set, else
``sqlite:///<repo>/mlflow.db`` with artifacts in ``<repo>/mlartifacts``
(``pipeline.tracking.tracking_uri``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from .tracking import tracking_uri

ROOT = Path(__file__).resolve().parents[1]
ALIASES = ("champion", "challenger")
# Tag set on the runs `imr compare` makes, so that they never count as training runs.
COMPARISON_TAG = "imr.kind"
COMPARISON_VALUE = "comparison"
# Metrics where lower is better; every other metric is better higher.
LOWER_IS_BETTER = re.compile(r"(^|[_.\-])(ece|brier|loss|log_?loss|error|mce|time|seconds|runtime)($|[_.\-])",
                             re.I)
# Order of the classifier issue's metrics in tables; others follow alphabetically.
KEY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "auprc", "ece")


# --------------------------------------------------------------------------- store

def artifact_root() -> str:
    """Where runs of a newly created experiment keep their artifacts: ``mlartifacts/`` beside
    a sqlite store (as ``pipeline.tracking.setup_mlflow`` creates experiments)."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return (ROOT / "mlartifacts").as_uri()


def client():
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


# --------------------------------------------------------------------------- aliases

@dataclass
class Version:
    name: str
    version: str
    run_id: str | None
    source: str | None
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _version(mv) -> Version:
    return Version(mv.name, str(mv.version), mv.run_id, mv.source, list(getattr(mv, "aliases", []) or []))


def registered_model_names(c=None) -> list[str]:
    c = c or client()
    return sorted(m.name for m in c.search_registered_models())


def versions_of_run(run_id: str, c=None) -> list[Version]:
    c = c or client()
    return [_version(mv) for mv in c.search_model_versions(f"run_id='{run_id}'")]


def _one_name(c, name: str | None) -> str:
    if name:
        return name
    names = registered_model_names(c)
    if len(names) == 1:
        return names[0]
    if not names:
        raise LookupError("no registered models in the store (run `imr train` first)")
    raise LookupError(f"several registered models ({', '.join(names)}): say which with --name")


def find_version(ref: str, name: str | None = None, c=None) -> Version:
    """A registered model version from a run id, run name, ``N``, ``name/N``, ``name:N``,
    ``models:/name/N`` or ``name@alias``."""
    c = c or client()
    ref = ref.strip()
    m = re.fullmatch(r"(?:models:/)?([^/@:]+)[/:](\d+)", ref)
    if m:
        return _version(c.get_model_version(m.group(1), m.group(2)))
    m = re.fullmatch(r"(?:models:/)?([^/@]+)@([\w\-]+)", ref)
    if m:
        return _version(c.get_model_version_by_alias(m.group(1), m.group(2)))
    if ref.isdigit():
        return _version(c.get_model_version(_one_name(c, name), ref))
    if ref in ALIASES:
        return alias_version(ref, name, c)
    versions = versions_of_run(ref, c)
    if not versions:  # a run name?
        runs = c.search_runs(_experiment_ids(c), filter_string=f"attributes.run_name = '{ref}'",
                             max_results=5)
        for run in runs:
            versions += versions_of_run(run.info.run_id, c)
    if name:
        versions = [v for v in versions if v.name == name]
    if not versions:
        raise LookupError(f"{ref!r} is neither a registered model version nor a run with a registered model")
    # A run registered more than once: its newest version.
    return max(versions, key=lambda v: (v.name, int(v.version)))


def promote(ref: str, alias: str = "champion", name: str | None = None, c=None) -> Version:
    """Point ``alias`` at the version that ``ref`` names; returns that version.

    Aliases belong to a registered model (``imr-<domain>-<setting>``), so each setting has
    its own champion; promoting moves the alias off that model's previous version."""
    c = c or client()
    if not re.fullmatch(r"[A-Za-z][\w\-]*", alias):
        raise ValueError(f"bad alias {alias!r}")
    v = find_version(ref, name, c)
    c.set_registered_model_alias(v.name, alias, v.version)
    v.aliases = sorted(set(v.aliases) | {alias})
    return v


def alias_version(alias: str, name: str | None = None, c=None, setting: str | None = None,
                  domain: str | None = None) -> Version:
    """The version behind ``alias``; without ``name``, looks in every registered model
    (narrowed to names ending ``-<setting>`` / holding ``-<domain>-`` when given) and fails
    if the alias is on more than one."""
    from mlflow.exceptions import MlflowException

    c = c or client()
    names = [name] if name else registered_model_names(c)
    if not name and setting:
        names = [n for n in names if n.endswith(f"-{setting}")]
    if not name and domain:
        names = [n for n in names if f"-{domain}-" in f"-{n}-"]
    found = []
    for n in names:
        try:
            found.append(_version(c.get_model_version_by_alias(n, alias)))
        except MlflowException:
            continue
    if not found:
        raise LookupError(f"no registered model has the alias {alias!r} (set it with `imr promote RUN --alias {alias}`)")
    if len(found) > 1:
        raise LookupError(f"alias {alias!r} is set on several registered models "
                          f"({', '.join(v.name for v in found)}): say which with NAME@{alias} "
                          "or give the setting")
    return found[0]


def aliased_runs(c=None) -> dict[str, list[str]]:
    """run id -> the aliases (``champion``, ``challenger``, ...) on its registered versions."""
    c = c or client()
    out: dict[str, list[str]] = {}
    for rm in c.search_registered_models():
        for alias, version in (getattr(rm, "aliases", None) or {}).items():
            try:
                mv = c.get_model_version(rm.name, version)
            except Exception:  # noqa: BLE001  (version deleted under the alias)
                continue
            if mv.run_id:
                out.setdefault(mv.run_id, []).append(alias)
    return {k: sorted(v, key=lambda a: (a not in ALIASES, ALIASES.index(a) if a in ALIASES else 0, a))
            for k, v in out.items()}


def resolve_model_uri(ref: str, c=None, setting: str | None = None, domain: str | None = None) -> str:
    """What ``imr predict --model REF`` loads: an MLflow model URI (or a local path).

    ``champion`` / ``challenger`` / ``@alias`` / ``name@alias`` -> ``models:/name@alias``
    (a bare alias set on several registered models needs ``setting``, e.g. ``prior``,
    which picks ``imr-*-prior``; ``domain`` narrows further);
    ``N`` / ``name/N`` -> ``models:/name/N``; a run id -> its registered version (or
    ``runs:/<id>/model`` when it has none); an existing path or any ``scheme:/`` URI as is.
    """
    ref = str(ref).strip()
    if re.match(r"^[a-z][\w+.\-]*:/", ref) or Path(ref).exists():
        return ref
    c = c or client()
    alias = ref[1:] if ref.startswith("@") else ref
    if alias in ALIASES or ref.startswith("@"):
        return f"models:/{alias_version(alias, None, c, setting, domain).name}@{alias}"
    if re.fullmatch(r"[^/@]+@[\w\-]+", ref):
        return f"models:/{ref}"
    try:
        return find_version(ref, None, c).uri
    except LookupError:
        if re.fullmatch(r"[0-9a-f]{32}", ref):
            return f"runs:/{ref}/model"
        raise


# --------------------------------------------------------------------------- runs

def is_comparison(run) -> bool:
    return run.data.tags.get(COMPARISON_TAG) == COMPARISON_VALUE


def _experiment_ids(c, experiment: str | None = None) -> list[str]:
    if experiment:
        exp = c.get_experiment_by_name(experiment)
        if exp is None:
            raise LookupError(f"no experiment named {experiment!r}")
        return [exp.experiment_id]
    from mlflow.entities import ViewType

    return [e.experiment_id for e in c.search_experiments(view_type=ViewType.ACTIVE_ONLY)]


def training_runs(experiment: str | None = None, run_ids: Sequence[str] | None = None, c=None) -> list:
    """Finished (or running) training runs, newest first; comparison runs left out."""
    c = c or client()
    if run_ids:
        runs = [c.get_run(r) for r in run_ids]
    else:
        runs = c.search_runs(_experiment_ids(c, experiment), max_results=5000,
                             order_by=["attributes.start_time DESC"])
        runs = [r for r in runs if r.info.status in ("FINISHED", "RUNNING")]
    return [r for r in runs if not is_comparison(r)]


def run_model_setting(run) -> tuple[str, str]:
    """(model, setting) of a training run, from its params/tags, else its name."""
    p, t = run.data.params, run.data.tags
    model = (p.get("model") or t.get("model") or t.get("imr.model") or p.get("model_name")
             or p.get("model.name") or p.get("name") or "")
    setting = p.get("setting") or t.get("setting") or t.get("imr.setting") or ""
    domain = t.get("domain") or p.get("domain") or ""
    if setting and domain and domain != "dwc":
        setting = f"{domain} {setting}"
    name = run.info.run_name or ""
    if not model and name:
        model = re.split(r"[/:]", name)[0] if re.search(r"[/:]", name) else name
    if not setting and re.search(r"(prior|rationale)", name):
        setting = re.search(r"(prior|rationale)", name).group(1)
    return model or "?", setting or "?"


_STD = re.compile(r"^(?P<base>.+?)[_.\-/](std|sd|spread)$|^(std|sd)[_.\-/](?P<base2>.+)$")
_MEAN = re.compile(r"^(?P<base>.+?)[_.\-/](mean|avg)$|^(mean|avg)[_.\-/](?P<base2>.+)$")
_FOLD = re.compile(r"(^|[_.\-/])fold[_\-]?\d+($|[_.\-/])|^fold[_.\-/]", re.I)


def summarise_metrics(metrics: dict[str, float]) -> dict[str, tuple[float, float | None]]:
    """Logged metrics -> {base name: (mean, spread or None)}; per-fold metrics left out.

    ``cv_auroc_mean``/``cv_auroc_std``, ``auroc.mean``, ``mean_auroc``/``std_auroc`` and a
    bare ``auroc`` all become ``auroc``; ``fold_*`` and ``*fold3*`` metrics are per fold.
    """
    means: dict[str, float] = {}
    stds: dict[str, float] = {}
    for key, value in metrics.items():
        if _FOLD.search(key) or value is None:
            continue
        m = _STD.match(key)
        if m:
            stds[_norm(m.group("base") or m.group("base2"))] = value
            continue
        m = _MEAN.match(key)
        if m:
            means[_norm(m.group("base") or m.group("base2"))] = value
            continue
        means.setdefault(_norm(key), value)
    return {k: (v, stds.get(k)) for k, v in means.items()}


def _norm(name: str) -> str:
    name = name.replace(".", "_").replace("-", "_").replace("/", "_").lower()
    bare = re.sub(r"^(cv|oof|eval|test|val)_", "", name)
    return bare if bare in KEY_METRICS else name


def metric_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    key = [k for k in KEY_METRICS if k in names]
    return key + sorted(names - set(key))


def lower_is_better(metric: str) -> bool:
    return bool(LOWER_IS_BETTER.search(metric))


@dataclass
class RunRow:
    run_id: str
    name: str
    model: str
    setting: str
    date: str
    metrics: dict[str, tuple[float, float | None]]
    aliases: list[str]


def run_rows(experiment: str | None = None, run_ids: Sequence[str] | None = None, c=None) -> list[RunRow]:
    c = c or client()
    aliases = aliased_runs(c)
    rows = []
    for r in training_runs(experiment, run_ids, c):
        model, setting = run_model_setting(r)
        date = datetime.fromtimestamp(r.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
        rows.append(RunRow(r.info.run_id, r.info.run_name or r.info.run_id[:8], model, setting, date,
                           summarise_metrics(r.data.metrics), aliases.get(r.info.run_id, [])))
    return rows


def sort_rows(rows: list[RunRow], metric: str | None, ascending: bool | None = None) -> list[RunRow]:
    """Best first by ``metric`` (lower first for ECE/loss-like metrics); missing last.
    ``date``, ``model``, ``setting`` and ``name`` sort too."""
    if not metric:
        return rows
    if metric in ("date", "model", "setting", "name"):
        return sorted(rows, key=lambda r: getattr(r, metric), reverse=metric == "date" and not ascending)
    key = _norm(metric)
    if rows and not any(key in r.metrics for r in rows):
        known = metric_order({k for r in rows for k in r.metrics})
        raise KeyError(f"no run has a metric {metric!r}; known: {', '.join(known)}")
    asc = lower_is_better(key) if ascending is None else ascending
    present = [r for r in rows if key in r.metrics and not math.isnan(r.metrics[key][0])]
    missing = [r for r in rows if r not in present]
    return sorted(present, key=lambda r: r.metrics[key][0], reverse=not asc) + missing


def fmt_metric(value: tuple[float, float | None] | None, digits: int = 3) -> str:
    if value is None or value[0] is None or math.isnan(value[0]):
        return "-"
    mean, sd = value
    return f"{mean:.{digits}f}" + (f" ±{sd:.{digits}f}" if sd is not None and not math.isnan(sd) else "")


def runs_table(rows: list[RunRow], metrics: Sequence[str] | None = None, width: int | None = None) -> str:
    """A plain-text table: run, model, setting, the key metrics (mean ±std), date, aliases."""
    if not rows:
        return "no training runs in the store"
    all_metrics = metric_order({k for r in rows for k in r.metrics})
    if metrics is None:
        metrics = [m for m in all_metrics if m in KEY_METRICS] or all_metrics[:6]
    header = ["run", "model", "setting", *metrics, "date", "alias"]
    body = [[r.run_id[:8] + (" " + r.name if r.name and r.name != r.run_id[:8] else ""), r.model, r.setting,
             *(fmt_metric(r.metrics.get(m)) for m in metrics), r.date, ",".join(r.aliases)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    # The run column gives way first when a width is imposed.
    if width and sum(widths) + 2 * (len(widths) - 1) > width:
        widths[0] = max(8, widths[0] - (sum(widths) + 2 * (len(widths) - 1) - width))
    lines = []
    for i, row in enumerate([header, *body]):
        cells = []
        for j, (cell, w) in enumerate(zip(row, widths)):
            cell = str(cell)[:w]
            numeric = 3 <= j < 3 + len(metrics)
            cells.append(cell.rjust(w) if numeric else cell.ljust(w))
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
