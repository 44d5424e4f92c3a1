"""The model registry: registered models ``imr-<domain>-<setting>``, their aliases, what serves.

* ``promote(ref, alias)`` points a registry alias (``champion``, ``challenger``) at a
  registered model version, given a run id, a version (``3``, ``name/3``,
  ``models:/name/3``) or a run name; `export_alias` writes the aliased version to a folder
  (``models/<domain>-<setting>`` for the champion: one champion, in the registry and on disk).
* ``resolve_model_uri(ref)`` turns what a user types after ``imr predict --model``
  (``champion``, ``challenger``, ``name@alias``, a run id, a version, a path or any
  MLflow model URI) into a URI that ``mlflow.pyfunc.load_model`` accepts.

The store is the project's own (`pipeline.store`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..store import client

CHAMPION = "champion"
ALIASES = (CHAMPION, "challenger")


def model_name(domain: str, setting: str) -> str:
    """The registered model of a task: ``imr-<domain>-<setting>``."""
    return f"imr-{domain}-{setting}"


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
        raise StoreError("no registered models in the store (run `imr train` first)")
    raise StoreError(f"several registered models ({', '.join(names)}): say which with --name")


def find_version(ref: str, name: str | None = None, c=None) -> Version:
    """A registered model version from a run id, run name, ``N``, ``name/N``, ``name:N``,
    ``models:/name/N`` or ``name@alias``."""
    from mlflow.exceptions import MlflowException

    c = c or client()
    ref = ref.strip()
    try:
        m = re.fullmatch(r"(?:models:/)?([^/@:]+)[/:](\d+)", ref)
        if m:
            return _version(c.get_model_version(m.group(1), m.group(2)))
        m = re.fullmatch(r"(?:models:/)?([^/@]+)@([\w\-]+)", ref)
        if m:
            return _version(c.get_model_version_by_alias(m.group(1), m.group(2)))
        if ref.isdigit():
            return _version(c.get_model_version(_one_name(c, name), ref))
    except MlflowException as e:
        raise StoreError(f"no registered model version {ref!r} in the store ({e.error_code})") from None
    if ref in ALIASES:
        return alias_version(ref, name, c)
    versions = versions_of_run(ref, c)
    if not versions:  # a run name?
        runs = c.search_runs(experiment_ids(c), filter_string=f"attributes.run_name = '{ref}'",
                             max_results=5)
        for run in runs:
            versions += versions_of_run(run.info.run_id, c)
    if name:
        versions = [v for v in versions if v.name == name]
    if not versions:
        raise StoreError(f"{ref!r} is neither a registered model version nor a run with a registered model")
    # A run registered more than once: its newest version.
    return max(versions, key=lambda v: (v.name, int(v.version)))


def promote(ref: str, alias: str = "champion", name: str | None = None, c=None) -> Version:
    """Point ``alias`` at the version that ``ref`` names; returns that version.

    Aliases belong to a registered model (``imr-<domain>-<setting>``), so each setting has
    its own champion; promoting moves the alias off that model's previous version."""
    c = c or client()
    if not re.fullmatch(r"[A-Za-z][\w\-]*", alias):
        raise StoreError(f"bad alias {alias!r}: letters, digits, - and _ only")
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
        raise StoreError(f"no registered model has the alias {alias!r} (set it with `imr promote RUN --alias {alias}`)")
    if len(found) > 1:
        raise StoreError(f"alias {alias!r} is set on several registered models "
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
    except StoreError:
        if re.fullmatch(r"[0-9a-f]{32}", ref):
            return f"runs:/{ref}/model"
        raise




def experiment_ids(c, experiment: str | None = None) -> list[str]:
    """The ids of ``experiment`` (StoreError if there is none by that name), else of all active ones."""
    if experiment:
        exp = c.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in c.search_experiments())
            raise StoreError(f"no experiment named {experiment!r} in the store (experiments: "
                             f"{', '.join(names) or 'none; run `imr train` first'})")
        return [exp.experiment_id]
    from mlflow.entities import ViewType

    return [e.experiment_id for e in c.search_experiments(view_type=ViewType.ACTIVE_ONLY)]


def export_alias(name: str, alias: str, dst: str | Path) -> Path:
    """Write the version of registered model ``name`` behind ``alias`` to the folder ``dst``
    (an MLflow model folder, replaced whole: a reader never sees half of it)."""
    import os
    import shutil
    import tempfile

    import mlflow

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}@{alias}",
                                                         dst_path=str(tmp / "model")))
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(local, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def log_test(run_id: str, test: dict | None) -> None:
    """Log a champion's frozen-test metrics (``test_<metric>``, ``_low``, ``_high``) to its run."""
    if not test:
        return
    c = client()
    for k, v in test["summary"].items():
        for s, suffix in (("mean", ""), ("low", "_low"), ("high", "_high")):
            if v.get(s) is not None and v[s] == v[s]:
                c.log_metric(run_id, f"test_{k}{suffix}", float(v[s]))
    c.log_metric(run_id, "test_n", test["n"])
