"""Classifier charts drawn with matplotlib: one drawing per chart, saved as PNG for the
MLflow runs or returned as inline SVG for the HTML dashboard."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in SVG: small, selectable
    matplotlib.rcParams["svg.hashsalt"] = "imr"  # stable element ids: the same data, the same page
    import matplotlib.pyplot as plt

    return plt


def _square(title: str, xlabel: str, ylabel: str, size: float):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size, size))
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_figure(curves: Sequence[tuple[str, Any, Any, str]], title: str = "ROC", size: float = 3.8):
    """ROC curves: one (run id, labels, scores, legend) each, with the chance diagonal."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _square(title, "false positive rate", "true positive rate", size)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for gid, y, p, label in curves:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=1.8, label=f"{label} ({roc_auc_score(y, p):.2f})", gid=f"curve-{gid}")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def pr_figure(curves: Sequence[tuple[str, Any, Any, str]], title: str = "Precision-recall, Overturned",
              size: float = 3.8):
    """Precision-recall curves for Overturned, with the base rate as the chance line."""
    import numpy as np
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = _square(title, "recall", "precision", size)
    for gid, y, p, label in curves:
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, lw=1.8, label=f"{label} ({average_precision_score(y, p):.2f})", gid=f"curve-{gid}")
    if curves:
        ax.axhline(float(np.mean(curves[0][1])), ls="--", c="grey", lw=1)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def reliability_figure(curves: Sequence[tuple[str, list[dict[str, float]], str]], title: str,
                       size: float = 4.2):
    """Reliability curves (one per (run id, curve, legend)) against the diagonal; each point's
    bin count written beside it when there is one curve."""
    fig, ax = _square(title, "predicted P(Overturned)", "observed Overturned rate", size)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for gid, curve, label in curves:
        ax.plot([c["mean_predicted"] for c in curve], [c["observed"] for c in curve], marker="o",
                ms=4, label=label, gid=f"curve-{gid}")
        if len(curves) == 1:
            for c in curve:
                ax.annotate(str(c["count"]), (c["mean_predicted"], c["observed"]), fontsize=7,
                            textcoords="offset points", xytext=(3, 3))
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def save_png(fig, path: str | Path, dpi: int = 110) -> Path:
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def to_svg(fig, attrs: dict[str, Any] | None = None) -> str:
    """The figure as an inline ``<svg>`` element (no XML header), with extra attributes."""
    plt = pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    if attrs:
        extra = " ".join(f'{k}="{v}"' for k, v in attrs.items())
        svg = svg.replace("<svg", f"<svg {extra}", 1)
    return svg


def plot_reliability(curve: list[dict[str, float]], path: str | Path, title: str) -> Path:
    """One run's out-of-fold reliability curve as a PNG (an artifact of its MLflow run)."""
    return save_png(reliability_figure([("oof", curve, "out-of-fold")], title), path)
