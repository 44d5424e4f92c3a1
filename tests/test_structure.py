"""The package's shape: imports only go down the stages, serving and reporting never import
each other, no import cycle, no module over 400 lines. Walks the real import graph (ast)."""
from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "pipeline"
# Each stage may import the stages before it (and itself); serve and report share a level.
LAYERS = [
    {"errors", "project", "encoders"},
    {"store"},
    {"io"},
    {"nlp"},
    {"extract"},
    {"classify"},
    {"serve", "report"},
    {"cli"},
]
MAX_LINES = 400


def stage_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "pipeline"


def level(stage: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if stage in layer)


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports (anywhere in the file, lazy imports included)."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = name if is_pkg else name.rsplit(".", 1)[0]
            if node.level:
                parts = base.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                found.add(t)
    return found


def test_every_module_belongs_to_a_stage():
    for name in modules():
        if name != "pipeline":
            level(stage_of(name))  # StopIteration: a folder not in LAYERS


def test_imports_only_go_down_and_serve_and_report_stay_apart():
    known = modules()
    wrong = []
    for name, path in known.items():
        here = stage_of(name)
        for dep in imports(name, path, known):
            there = stage_of(dep)
            if there == here or dep == "pipeline":
                continue
            if level(there) > level(here) or {here, there} == {"serve", "report"}:
                wrong.append(f"{name} -> {dep}")
    assert wrong == []


def test_no_import_cycle():
    known = modules()
    graph = {n: {d for d in imports(n, p, known) if not d.startswith(n + ".")} for n, p in known.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(n, stack):
        state[n] = 1
        for d in graph[n]:
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_modules_stay_small():
    big = {n: sum(1 for _ in p.open(encoding="utf-8")) for n, p in modules().items()}
    assert {n: k for n, k in big.items() if k > MAX_LINES} == {}


def test_no_utils_dumping_ground():
    assert not [p for p in PACKAGE.rglob("*.py") if p.stem in ("utils", "helpers", "misc", "common")]
