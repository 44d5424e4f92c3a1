"""`imr analyze`: overturn rates with Wilson intervals (checked against Newcombe 1998, Table I),
on extracted DWC item rows, on letters tagged on the fly (the same counts), and on the 19,228
labelled DMHC rows; the page rendered in headless Chromium."""
from __future__ import annotations

import csv

import pytest

from pipeline.report.corpus import count, wilson

from ..browser import Browser, chromium_path
from ..conftest import LETTERS_TXT, RAW, ROOT, imr

DMHC_LABELS = RAW / "dmhc_imr" / "imr_determinations_2001_2016_labels_only_NO_FINDINGS.csv"


@pytest.mark.parametrize("k, n, low, high", [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                             (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_intervals_match_newcombe_1998(k, n, low, high):
    got = wilson(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    letters = sorted(LETTERS_TXT.glob("*.txt"))[:30]
    for f in letters:
        (d / "in").mkdir(exist_ok=True)
        (d / "in" / f.name).write_bytes(f.read_bytes())
    proc = imr("extract", str(d / "in"), "--out", str(d / "items.parquet"), "-q")
    assert proc.returncode == 0, proc.stderr
    proc = imr("analyze", str(d / "items.parquet"), str(DMHC_LABELS), "--out", str(d / "corpus.html"))
    assert proc.returncode == 0, proc.stderr
    return d, proc.stderr


def _csv(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_table_is_a_csv_with_wilson_intervals(report):
    d, stderr = report
    names = sorted(p.name for p in (d / "corpus").glob("*.csv"))
    assert names == sorted(["dwc-treatmentcategory.csv", "dwc-guidelinesource.csv", "dwc-guidelinechapter.csv",
                            "dwc-reviewerspecialty.csv", "dwc-diagnosisbodyregion.csv", "dwc-decisionmonth.csv",
                            "dmhc-treatmentcategory.csv", "dmhc-diagnosiscategory.csv", "dmhc-reviewtype.csv",
                            "dmhc-reportyear.csv"])
    for p in (d / "corpus").glob("*.csv"):
        for r in _csv(p):
            n, k = int(r["items"]), int(r["overturned"])
            assert (float(r["wilson_low"]), float(r["wilson_high"])) == pytest.approx(wilson(k, n), abs=1e-4)
    # DMHC: every labelled row counted once per table, by year as its own export says
    years = _csv(d / "corpus" / "dmhc-reportyear.csv")
    assert sum(int(r["items"]) for r in years) == 19228 and sum(int(r["overturned"]) for r in years) == 8452
    assert [r["value"] for r in years] == sorted(r["value"] for r in years)
    assert "analyze dmhc: 19228 decided items, 8452 Overturned" in stderr


def test_letters_tagged_on_the_fly_give_the_same_counts(report):
    d, _ = report
    from_rows, _, _ = count([d / "items.parquet"])
    from_letters, _, tagged = count([d / "in"])
    assert tagged == 30 and from_rows.decided == from_letters.decided > 30
    assert dict(from_rows.n) == dict(from_letters.n)


@pytest.mark.skipif(chromium_path() is None, reason="chromium not installed (.ci/run installs it)")
def test_report_renders_in_chromium(report):
    d, _ = report
    checks = """(() => ({
      domains: [...document.querySelectorAll('section.domain')].map(s => s.dataset.domain),
      tables: [...document.querySelectorAll('table.rates')].map(t => [t.dataset.table, t.querySelectorAll('tbody tr').length]),
      charts: [...document.querySelectorAll('svg.chart')].map(s => [s.dataset.kind, s.getBoundingClientRect().width,
                                                                    s.querySelectorAll('path').length]),
      widest: Math.max(...[...document.querySelectorAll('svg, div.scroll')].map(e => e.getBoundingClientRect().right)),
      viewport: window.innerWidth, external: [...document.querySelectorAll('[src],[href]')].length}))()"""
    with Browser(width=1300, height=1000) as b:
        b.goto((d / "corpus.html").as_uri())
        got = b.eval(checks)
        b.screenshot(ROOT / "test-artifacts" / "corpus.png", height=2400)
        assert b.console_errors() == []
    assert got["domains"] == ["dwc", "dmhc"] and got["external"] == 0
    assert len(got["tables"]) == 10 and all(n >= 1 for _, n in got["tables"])
    assert len(got["charts"]) == 10 and all(w > 200 and paths > 5 for _, w, paths in got["charts"])
    assert {k for k, _, _ in got["charts"]} == {"bars", "line"} and got["widest"] <= got["viewport"]
