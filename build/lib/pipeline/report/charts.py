"""Corpus charts drawn with matplotlib, returned as inline SVG: overturn rates with their
Wilson intervals, as bars (categories) or a line with a band (months, years)."""
from __future__ import annotations

from typing import Any

from ..classify.plots import pyplot, to_svg

MAX_BARS = 15


def rate_bars(rows: list[dict[str, Any]], title: str, overall: float) -> str:
    """Horizontal bars of the overturn rate per value (the most frequent first), each with its
    Wilson interval and item count, and the corpus rate as a dashed line."""
    plt = pyplot()
    rows = rows[:MAX_BARS]
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(rows) + 1.1))
    y = list(range(len(rows)))[::-1]
    rates = [r["rate"] for r in rows]
    err = [[r["rate"] - r["low"] for r in rows], [r["high"] - r["rate"] for r in rows]]
    ax.barh(y, rates, xerr=err, color="#4c78a8", alpha=0.85, error_kw={"ecolor": "#333", "capsize": 2, "lw": 1})
    ax.set_yticks(y, [f"{r['value'][:48]}  (n={r['n_items']})" for r in rows], fontsize=8)
    ax.axvline(overall, ls="--", c="#c44", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share Overturned (95% Wilson interval); dashed: whole corpus", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_svg(fig, {"class": "chart", "data-kind": "bars"})


def rate_line(rows: list[dict[str, Any]], title: str) -> str:
    """The overturn rate over time (months or years in order) with its Wilson band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    x = list(range(len(rows)))
    ax.fill_between(x, [r["low"] for r in rows], [r["high"] for r in rows], color="#4c78a8", alpha=0.2)
    ax.plot(x, [r["rate"] for r in rows], marker="o", ms=3, color="#4c78a8")
    step = max(1, len(rows) // 12)
    ax.set_xticks(x[::step], [r["value"] for r in rows][::step], fontsize=8, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share Overturned", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_svg(fig, {"class": "chart", "data-kind": "line"})
