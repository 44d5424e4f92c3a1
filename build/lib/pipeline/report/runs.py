"""The training runs of the store as rows: for ``imr runs`` (a terminal table) and the dashboard.

A run's metrics are what ``imr train`` logs: ``<metric>_mean`` and ``<metric>_std`` across
folds (`pipeline.classify.metrics.METRICS`), plus, when present, ``<metric>_low`` /
``<metric>_high`` (a 95% bootstrap interval), and for champions ``test_<metric>`` (with
``_low`` / ``_high``: the frozen test split, scored once by ``imr evaluate``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence

from ..classify import registry
from ..classify.metrics import LABELS, METRICS, fmt, lower_is_better
from ..errors import StoreError
from ..store import OUTCOME_EXPERIMENT, client

# Tag set on the runs `imr compare` makes, so that they never count as training runs.
COMPARISON_TAG = "imr.kind"
COMPARISON_VALUE = "comparison"
SORT_KEYS = ("date", "model", "task", "name")


@dataclass
class RunRow:
    run_id: str
    name: str
    model: str
    domain: str
    setting: str
    date: str
    experiment_id: str
    metrics: dict[str, dict[str, float]]  # metric -> {mean, std, low, high} (those logged)
    aliases: list[str] = field(default_factory=list)
    test: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> {mean, low, high}: frozen test

    @property
    def task(self) -> str:
        """``<domain>-<setting>``: runs of one task are compared with each other only."""
        return f"{self.domain}-{self.setting}"

    def value(self, metric: str) -> float:
        v = self.metrics.get(metric, {}).get("mean")
        return float("nan") if v is None else v


def is_comparison(run) -> bool:
    return run.data.tags.get(COMPARISON_TAG) == COMPARISON_VALUE


def training_runs(experiment: str | None = OUTCOME_EXPERIMENT, run_ids: Sequence[str] | None = None,
                  c=None) -> list:
    """Finished training runs, newest first; comparison runs left out."""
    c = c or client()
    if run_ids:
        runs = [c.get_run(r) for r in run_ids]
    else:
        runs = c.search_runs(registry.experiment_ids(c, experiment), max_results=5000,
                             order_by=["attributes.start_time DESC"])
        runs = [r for r in runs if r.info.status == "FINISHED"]
    return [r for r in runs if not is_comparison(r)]


def logged_metrics(metrics: dict[str, float], prefix: str = "") -> dict[str, dict[str, float]]:
    """A run's logged metrics grouped per classifier metric (see the module doc): the
    cross-validated ones, or with ``prefix="test_"`` the frozen-test ones."""
    out: dict[str, dict[str, float]] = {}
    for m in METRICS:
        if prefix:
            parts = {"mean": metrics.get(f"{prefix}{m}"), "low": metrics.get(f"{prefix}{m}_low"),
                     "high": metrics.get(f"{prefix}{m}_high")}
        else:
            parts = {k: metrics.get(f"{m}_{k}") for k in ("mean", "std", "low", "high")}
        parts = {k: v for k, v in parts.items() if v is not None and not math.isnan(v)}
        if parts:
            out[m] = parts
    return out


def run_rows(experiment: str | None = OUTCOME_EXPERIMENT, run_ids: Sequence[str] | None = None,
             c=None) -> list[RunRow]:
    c = c or client()
    aliases = registry.aliased_runs(c)
    rows = []
    for r in training_runs(experiment, run_ids, c):
        p, t = r.data.params, r.data.tags
        rows.append(RunRow(
            run_id=r.info.run_id, name=r.info.run_name or r.info.run_id[:8],
            model=p.get("model") or t.get("model") or "?", domain=t.get("domain") or p.get("domain") or "?",
            setting=p.get("setting") or t.get("setting") or "?",
            date=datetime.fromtimestamp(r.info.start_time / 1000).strftime("%Y-%m-%d %H:%M"),
            experiment_id=r.info.experiment_id, metrics=logged_metrics(r.data.metrics),
            aliases=aliases.get(r.info.run_id, []), test=logged_metrics(r.data.metrics, "test_")))
    return rows


def sort_rows(rows: list[RunRow], key: str | None, ascending: bool | None = None) -> list[RunRow]:
    """Best first by metric ``key`` (lowest first for ECE), runs without it last; or by
    date (newest first), model, task or name."""
    if not key:
        return rows
    if key in SORT_KEYS:
        return sorted(rows, key=lambda r: getattr(r, key), reverse=key == "date" and not ascending)
    if key not in METRICS:
        raise StoreError(f"cannot sort by {key!r}: use one of {', '.join(METRICS + SORT_KEYS)}")
    asc = lower_is_better(key) if ascending is None else ascending
    present = [r for r in rows if not math.isnan(r.value(key))]
    missing = [r for r in rows if math.isnan(r.value(key))]
    return sorted(present, key=lambda r: r.value(key), reverse=not asc) + missing


def cell(m: dict[str, float] | None, digits: int = 3) -> str:
    """One metric as a table shows it: mean ± std, and [low, high] when an interval was logged."""
    if not m:
        return "-"
    text = fmt(m.get("mean"), m.get("std"), digits)
    if "low" in m and "high" in m:
        text += f" [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"
    return text


def runs_table(rows: list[RunRow], metrics: Sequence[str] = METRICS) -> str:
    """The runs as a terminal table (rich): run, model, task, metrics, test AUROC, date, aliases.
    Cells never wrap (one run per line, for people and for grep); `--metric` narrows it."""
    import io

    from rich.console import Console
    from rich.table import Table

    if not rows:
        return "no training runs in the store: run `imr train` (or `make run`) first"
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise StoreError(f"unknown metric {unknown[0]!r}: use one of {', '.join(METRICS)}")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("run", "model", "task"):
        table.add_column(col, overflow="fold")
    for m in metrics:
        table.add_column(f"{LABELS[m]} {'↓' if lower_is_better(m) else '↑'}", justify="right")
    table.add_column("test AUROC", justify="right")
    table.add_column("date")
    table.add_column("alias")
    for r in rows:
        t = r.test.get("auroc")
        table.add_row(r.name, r.model, r.task, *(cell(r.metrics.get(m)) for m in metrics),
                      cell(t), r.date, ",".join(r.aliases))
    buf = io.StringIO()
    Console(file=buf, width=10_000, force_terminal=False, color_system=None).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()).strip("\n")
