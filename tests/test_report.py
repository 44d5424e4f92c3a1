"""The comparison dashboard (`imr compare`), rendered in headless Chromium: no console errors,
every run in the table, every plot drawn, the error filter working; screenshot saved to
test-artifacts/compare.png. Runs: the classifier's tiny configs on real letters."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pipeline import registry

from .browser import Browser, chromium_path
from .conftest import ROOT
from .mlflow_runs import restore_env, shared_store

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d, ids = shared_store(tmp_path_factory)
    registry.promote(ids[0], "champion")
    out = d / "reports" / "compare.html"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{d / 'mlflow.db'}"}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "compare", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    yield out, ids, proc.stderr
    restore_env()


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
    c = registry.client()
    run = c.get_run(m.group(1))
    assert registry.is_comparison(run)
    assert set(run.data.params["runs"].split(",")) == set(ids)
    assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["compare.html"]
    assert m.group(1) not in {r.run_id for r in registry.run_rows()}


CHECKS = """(() => {
  const runs = [...document.querySelectorAll('#runs tbody tr')].map(tr => ({
      id: tr.dataset.run, text: tr.innerText, champion: tr.classList.contains('champion'),
      best: tr.querySelectorAll('td.best').length}));
  const plots = {};
  for (const svg of document.querySelectorAll('svg.plot')) {
    const k = svg.dataset.kind, box = svg.getBoundingClientRect();
    const curves = [...svg.querySelectorAll('polyline.curve')].map(p => ({
        run: p.dataset.run, points: p.points.numberOfItems, len: p.getTotalLength()}));
    (plots[k] = plots[k] || []).push({w: box.width, h: box.height, curves,
        cells: svg.querySelectorAll('rect.cell').length, markers: svg.querySelectorAll('circle').length,
        numbers: [...svg.querySelectorAll('text.num')].map(t => +t.textContent)});
  }
  const slices = [...document.querySelectorAll('table.slice')].map(t => ({
      dim: t.dataset.dim, rows: t.querySelectorAll('tbody tr').length}));
  const errors = [...document.querySelectorAll('#errors tbody tr')].map(tr => tr.dataset.run);
  return {runs, plots, slices, errors};
})()"""

FILTER = """(() => {
  const sel = document.getElementById('err-run'); sel.value = %r;
  sel.dispatchEvent(new Event('change'));
  return [...document.querySelectorAll('#errors tbody tr')].filter(tr => tr.style.display !== 'none')
      .map(tr => tr.dataset.run);
})()"""


@pytest.mark.skipif(chromium_path() is None, reason="chromium not installed (.ci/run installs it)")
def test_page_renders_in_chromium(page):
    out, ids, _ = page
    with Browser(width=1400, height=1000) as b:
        b.goto(out.as_uri())
        got = b.eval(CHECKS)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = b.screenshot(ARTIFACTS / "compare.png", height=2400)
        errors = b.console_errors()
        assert errors == []
        # every run in the table, by id and name; the champion marked; best values marked
        c = registry.client()
        assert sorted(r["id"] for r in got["runs"]) == sorted(ids)
        for r in got["runs"]:
            assert c.get_run(r["id"]).info.run_name in r["text"] and r["id"] in r["text"]
        champions = sorted(rid for rid, a in registry.aliased_runs().items() if "champion" in a)
        assert ids[0] in champions  # one champion per registered model (setting)
        assert sorted(r["id"] for r in got["runs"] if r["champion"]) == champions
        # best per column: one mark (or more on ties) in each metric column whose values differ
        rows = registry.run_rows(run_ids=ids)
        differ = [k for k in registry.KEY_METRICS if len({round(r.metrics[k][0], 12) for r in rows}) > 1]
        assert len(differ) >= 3 and sum(r["best"] for r in got["runs"]) >= len(differ)
        # the plots are drawn: one non-empty curve per run in each of ROC, PR, reliability
        for kind in ("roc", "pr", "reliability"):
            (plot,) = got["plots"][kind]
            assert plot["w"] > 100 and plot["h"] > 100
            assert sorted(cv["run"] for cv in plot["curves"]) == sorted(ids), kind
            if kind == "reliability":  # one point per non-empty bin (a constant model: one bin)
                assert all(cv["points"] >= 1 for cv in plot["curves"]) and plot["markers"] >= len(ids)
                assert max(cv["points"] for cv in plot["curves"]) >= 3
            else:
                assert all(cv["points"] >= 2 and cv["len"] > 10 for cv in plot["curves"]), kind
        cms = got["plots"]["confusion"]
        assert len(cms) == len(ids) and all(cm["cells"] == 4 and sum(cm["numbers"]) > 0 for cm in cms)
        assert {s["dim"] for s in got["slices"]} == {"specialty", "treatment type", "guideline source"}
        assert all(s["rows"] >= 2 for s in got["slices"])
        # the error browser filters by run
        assert len(got["errors"]) > 0
        one = got["errors"][0]
        shown = b.eval(FILTER % one)
        assert shown and set(shown) == {one} and len(shown) == got["errors"].count(one)
        assert b.console_errors() == []
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
