"""Installed use: every imported package is declared, and a non-editable install (the wheel)
parses, tags and predicts from another folder with its rules, configs and templates as
package data."""
from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

from .conftest import ENV, LETTERS_TXT, ROOT

pytestmark = pytest.mark.slow  # builds the wheel and installs it in a fresh venv


def _declared() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[=<>!~\[ ]", d)[0].lower().replace("_", "-") for d in deps}


def test_every_imported_package_is_declared():
    imported = set()
    for f in (ROOT / "pipeline").rglob("*.py"):
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Import):
                imported |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                imported.add(n.module.split(".")[0])
    third = {m for m in imported if m not in sys.stdlib_module_names and m != "pipeline"}
    dists = md.packages_distributions()
    missing = {m: dists.get(m) for m in third
               if not {d.lower().replace("_", "-") for d in dists.get(m, [m])} & _declared()}
    assert missing == {}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel of this checkout, unpacked as site-packages would hold it."""
    d = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(d),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = d.glob("imr-*.whl")
    site = d / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def test_the_wheel_holds_rules_configs_and_templates(installed):
    for rel in ("nlp/pipeline.cfg", "nlp/rules/entities.jsonl", "nlp/rules/sections.jsonl",
                "extract/vocab/treatment_categories.json", "extract/vocab/body_regions.json",
                "report/templates/compare.html.j2", "report/templates/corpus.html.j2"):
        assert (installed / "pipeline" / rel).is_file(), rel


def test_installed_commands_run_from_another_folder(installed, tiny_model, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**ENV, "PYTHONPATH": str(installed)}
    env.pop("IMR_HOME", None)
    where = subprocess.run([sys.executable, "-c", "import pipeline, pipeline.project as p; print(pipeline.__file__);"
                            " print(p.home())"], cwd=work, env=env, capture_output=True, text=True)
    assert where.stdout.splitlines() == [str(installed / "pipeline" / "__init__.py"), str(work)]
    letter = LETTERS_TXT / "CM16-0230651.txt"
    for args in (["parse", str(letter), "--out", "letters.jsonl"],
                 ["tag", str(letter), "--out", "tagged.jsonl"],
                 ["extract", str(letter), "--out", "items.jsonl"],
                 ["predict", str(letter), "--model", str(tiny_model), "--out", "preds.jsonl"]):
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (args, proc.stderr)
    tagged = json.loads((work / "tagged.jsonl").read_text().splitlines()[0])
    assert tagged["entities"] and os.path.exists(work / "preds.jsonl")
