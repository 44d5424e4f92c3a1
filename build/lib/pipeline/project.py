"""Where the project's files live: data, models, reports and the MLflow store.

Every default path is relative to one project folder, chosen in this order:

1. ``IMR_HOME`` (environment);
2. the source checkout this package was imported from (a folder holding ``pyproject.toml``
   and ``data/`` next to ``pipeline/``), as with ``pip install -e .``;
3. the current working directory (a plain ``pip install .`` run from anywhere).

Commands take flags for each path; these are only their defaults.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def home() -> Path:
    """The project folder (see the module doc)."""
    env = os.environ.get("IMR_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout
    return Path.cwd()


def path(*parts: str) -> Path:
    """A path under the project folder."""
    return home().joinpath(*parts)


def data_dir() -> Path:
    return path("data")


def models_dir() -> Path:
    return path("models")


def reports_dir() -> Path:
    return path("reports")


def configs_dir() -> Path:
    return path("configs")


def package_file(*parts: str) -> Path:
    """A data file shipped inside the package (rules, vocabularies, default configs)."""
    return PACKAGE.joinpath(*parts)
