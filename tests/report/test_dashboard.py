"""The comparison dashboard (`imr compare`), rendered in headless Chromium: one section per task
with only that task's runs, best values marked within the task, the champion from the
registry alias, every chart drawn, tables that fit the page, the error filter working, no
console errors; screenshot saved to test-artifacts/compare.png."""
from __future__ import annotations

import re

import pytest

from pipeline.classify import registry
from pipeline.report.runs import is_comparison, run_rows
from pipeline.store import client

from ..browser import Browser, chromium_path
from ..conftest import ROOT, imr

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def page(mlflow_store):
    d, ids = mlflow_store
    registry.promote(ids[0], "champion")  # dwc-prior: the tf-idf run
    out = d / "reports" / "compare.html"
    proc = imr("compare", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, ids, proc.stderr


def test_page_is_self_contained(page):
    out, ids, _ = page
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and not re.search(r"<script[^>]+src", html)
    assert "@import" not in html and "url(http" not in html
    for rid in ids:
        assert rid in html


def test_page_logged_as_comparison_run(page):
    out, ids, stderr = page
    m = re.search(r"logged to MLflow run ([0-9a-f]{32})", stderr)
    assert m, stderr
    c = client()
    run = c.get_run(m.group(1))
    assert is_comparison(run)
    assert set(run.data.params["runs"].split(",")) == set(ids)
    assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["compare.html"]
    assert m.group(1) not in {r.run_id for r in run_rows()}


CHECKS = """(() => {
  const sections = [...document.querySelectorAll('section.task')].map(s => ({
    task: s.dataset.task,
    runs: [...s.querySelectorAll('table.runs tbody tr')].map(tr => ({id: tr.dataset.run,
        champion: tr.classList.contains('champion'), best: tr.querySelectorAll('td.best').length})),
    plots: [...s.querySelectorAll('svg.plot')].map(svg => ({kind: svg.dataset.kind,
        w: svg.getBoundingClientRect().width,
        curves: [...svg.querySelectorAll('g[id^="curve-"]')].map(g => ({id: g.id.slice(6),
            len: [...g.querySelectorAll('path')].reduce((a, p) => a + p.getTotalLength(), 0)}))})),
    cms: [...s.querySelectorAll('table.cm')].map(t => ({run: t.dataset.run,
        n: [...t.querySelectorAll('td.cell')].map(td => +td.textContent)})),
    slices: [...s.querySelectorAll('table.slice')].map(t => ({dim: t.dataset.dim,
        rows: t.querySelectorAll('tbody tr').length})),
  }));
  const widest = Math.max(...[...document.querySelectorAll('table, svg')].map(e => e.getBoundingClientRect().right));
  const errors = [...document.querySelectorAll('#errors tbody tr')].map(tr => [tr.dataset.task, tr.dataset.run]);
  return {sections, widest, viewport: window.innerWidth, errors};
})()"""

FILTER = """((key, value) => {
  const sel = document.getElementById(key); sel.value = value; sel.dispatchEvent(new Event('change'));
  return [...document.querySelectorAll('#errors tbody tr')].filter(tr => tr.style.display !== 'none')
      .map(tr => [tr.dataset.task, tr.dataset.run]);
})(%r, %r)"""


@pytest.mark.skipif(chromium_path() is None, reason="chromium not installed (.ci/run installs it)")
def test_page_renders_in_chromium(page):
    out, ids, _ = page
    rows = {r.run_id: r for r in run_rows(run_ids=ids)}
    with Browser(width=1400, height=1000) as b:
        b.goto(out.as_uri())
        got = b.eval(CHECKS)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = b.screenshot(ARTIFACTS / "compare.png", height=2400)
        assert b.console_errors() == []
        # one section per task, holding that task's runs only
        tasks = {s["task"]: s for s in got["sections"]}
        assert set(tasks) == {"dwc-prior", "dwc-rationale"}
        for task, s in tasks.items():
            mine = sorted(r for r in ids if rows[r].task == task)
            assert sorted(r["id"] for r in s["runs"]) == mine
            champions = [r for r in mine if "champion" in rows[r].aliases]
            assert sorted(r["id"] for r in s["runs"] if r["champion"]) == champions
            # best per column, within the task: a mark only where the task's runs differ
            assert sum(r["best"] for r in s["runs"]) == (0 if len(mine) == 1 else sum(
                1 for k in ("accuracy", "macro_f1", "auroc", "ece")
                if len({round(rows[r].value(k), 12) for r in mine}) > 1) + sum(
                1 for k in ("balanced_accuracy", "auprc")
                if len({round(rows[r].value(k), 12) for r in mine}) > 1))
            # ROC, PR and reliability: one drawn curve per run of the task
            kinds = {p["kind"]: p for p in s["plots"]}
            assert set(kinds) == {"roc", "pr", "reliability"}
            for p in kinds.values():
                assert p["w"] > 150 and sorted(c["id"] for c in p["curves"]) == mine
                assert all(c["len"] > 10 for c in p["curves"]) or p["kind"] == "reliability"
            assert sorted(cm["run"] for cm in s["cms"]) == mine
            assert all(len(cm["n"]) == 4 and sum(cm["n"]) > 0 for cm in s["cms"])
            assert {x["dim"] for x in s["slices"]} == {"specialty", "treatment category", "guideline source"}
            assert all(x["rows"] >= 2 for x in s["slices"])
        assert any(r["champion"] for s in tasks.values() for r in s["runs"])
        assert got["widest"] <= got["viewport"]  # nothing scrolls sideways
        # the error browser filters by run and by task
        assert got["errors"]
        task, run = got["errors"][0]
        shown = b.eval(FILTER % ("err-run", run))
        assert shown and {r for _, r in shown} == {run}
        b.eval(FILTER % ("err-run", ""))
        shown = b.eval(FILTER % ("err-task", task))
        assert shown and {t for t, _ in shown} == {task}
        assert b.console_errors() == []
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
