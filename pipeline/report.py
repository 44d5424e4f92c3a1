"""The model comparison dashboard: one self-contained HTML page built from MLflow runs.

``build_report(...)`` reads training runs (their logged metrics and each run's per-item
out-of-fold predictions artifact, ``oof_predictions.jsonl``) and writes a page that opens
offline: no CDN, no fetch; plots are inline SVG written here, the error browser's filter is
a few lines of inline JavaScript.

The page shows
* the runs table: every metric of the classifier issue (accuracy, balanced accuracy,
  macro-F1, AUROC and AUPRC for Overturned, ECE) as mean ±std across folds, best per
  column marked, champion / challenger marked;
* ROC and precision-recall curves overlaid per run, reliability curves, confusion matrices;
* metrics sliced by reviewer specialty, treatment type and guideline source, with counts;
* an error browser: misclassified items, filterable by run.

``oof_predictions.jsonl``: one JSON object per scored item, fields ``case_number``,
``index``, ``text`` (the model input) and/or ``item``, ``label`` (1 = Overturned, 0 =
Upheld, or the decision word), ``p_overturned``, ``fold``, and for the slices
``specialty``, ``guideline`` (the cited guideline line) or ``guideline_source``, and
optionally ``treatment_type`` (else derived from the item by the classifier's keyword table).
"""
from __future__ import annotations

import html
import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import registry
from .classifiers.baselines import treatment_type as classifier_treatment_type
from .evaluate import compute_metrics, ece

PREDICTIONS_ARTIFACT = "oof_predictions.jsonl"
# The first found is read: ours, then the classifier's (`pipeline.tracking`: id, fold, label, p).
PREDICTION_ARTIFACTS = (PREDICTIONS_ARTIFACT, "oof.jsonl")
REPORT_ARTIFACT = "compare.html"
THRESHOLD = 0.5
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")
METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.", "macro_f1": "macro-F1",
                 "auroc": "AUROC", "auprc": "AUPRC (Overturned)", "ece": "ECE"}
SLICE_METRICS = ("accuracy", "macro_f1", "auroc")


# --------------------------------------------------------------------------- item facets

def treatment_type(item: str | None) -> str:
    """The kind of disputed treatment: the classifier's keyword table."""
    return classifier_treatment_type(item or "")


def guideline_sources(line: str | None) -> list[str]:
    """MTUS / ACOEM / ODG / other cited in a guideline line (``none cited`` when empty)."""
    from .nlp.guidelines import normalize  # imports spaCy: only when slices are drawn

    found = sorted({g["source"] for g in normalize(line) if g.get("source")}) if line and line.strip() else []
    return found or ["none cited"]


def primary_specialty(s: str | None) -> str:
    return (s or "").split(",")[0].strip() or "(unknown)"


# --------------------------------------------------------------------------- metrics

def _as_label(v: Any) -> int:
    if isinstance(v, str):
        v = v.strip().lower()
        return 1 if v in ("overturned", "1", "true") else 0
    return int(v)


def fold_summary(y: np.ndarray, p: np.ndarray, folds: np.ndarray, threshold: float | np.ndarray = THRESHOLD
                 ) -> dict[str, tuple[float, float | None]]:
    """Each metric's mean and std (ddof=1, as `pipeline.evaluate`) across folds; pooled when
    there are no folds."""
    ids = sorted(set(folds.tolist()) - {-1})
    t = np.broadcast_to(np.asarray(threshold, dtype=float), p.shape)
    if len(ids) < 2:
        return {k: (v, None) for k, v in compute_metrics(y, p, t).items()}
    per = [compute_metrics(y[folds == f], p[folds == f], t[folds == f]) for f in ids]
    out = {}
    for k in per[0]:
        vals = np.array([m[k] for m in per], dtype=float)
        vals = vals[~np.isnan(vals)]
        out[k] = ((float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0) if len(vals)
                  else (float("nan"), None))
    return out


# --------------------------------------------------------------------------- runs

@dataclass
class RunData:
    run_id: str
    name: str
    model: str
    setting: str
    experiment_id: str
    date: str
    logged: dict[str, tuple[float, float | None]]
    aliases: list[str] = field(default_factory=list)
    preds: list[dict[str, Any]] = field(default_factory=list)
    threshold: float = THRESHOLD
    color: str = PALETTE[0]

    @property
    def label(self) -> str:
        return self.name

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y = np.array([_as_label(r["label"]) for r in self.preds], dtype=int)
        p = np.array([float(r["p_overturned"]) for r in self.preds], dtype=float)
        f = np.array([int(r.get("fold", -1) if r.get("fold") is not None else -1) for r in self.preds])
        return y, p, f

    def predicted(self) -> np.ndarray:
        """Each item's predicted label: the record's ``prediction``, else p >= its threshold."""
        if self.preds and all(r.get("prediction") is not None for r in self.preds):
            return np.array([_as_label(r["prediction"]) for r in self.preds], dtype=int)
        return (self.arrays()[1] >= self.thresholds()).astype(int)

    def thresholds(self) -> np.ndarray:
        """Each item's decision threshold: its own (per fold), else the run's."""
        return np.array([float(r.get("threshold", self.threshold)) for r in self.preds], dtype=float)

    def metrics(self) -> tuple[dict[str, tuple[float, float | None]], str]:
        """Logged metrics where the classifier logged them, else computed from the predictions."""
        computed = fold_summary(*self.arrays(), threshold=self.thresholds()) if self.preds else {}
        keys = [k for k in registry.KEY_METRICS if k in self.logged]
        if keys:
            out = dict(computed)
            out.update({k: self.logged[k] for k in keys})
            return out, "logged"
        return computed, "computed"


def _find_artifact(c, run_id: str, name: str, path: str = "", depth: int = 2) -> str | None:
    try:
        entries = c.list_artifacts(run_id, path or None)
    except Exception:  # noqa: BLE001
        return None
    for e in entries:
        if not e.is_dir and e.path.rsplit("/", 1)[-1] == name:
            return e.path
    if depth > 0:
        for e in entries:
            if e.is_dir:
                hit = _find_artifact(c, run_id, name, e.path, depth - 1)
                if hit:
                    return hit
    return None


def _examples_by_id(path: str | None) -> dict[str, dict[str, Any]]:
    """The run's examples file (param ``examples``), id -> example, when it is on disk."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_absolute():
        p = registry.ROOT / p
    if not p.is_file():
        return {}
    from .records import read_jsonl

    return {str(d.get("id")): d for d in read_jsonl(p)}


def load_predictions(c, run, names: Sequence[str] = PREDICTION_ARTIFACTS) -> list[dict[str, Any]]:
    """A run's out-of-fold predictions, one dict per scored item.

    Reads the first artifact found of ``names``; records that hold only ``id`` (the
    classifier's ``oof.jsonl``) get the example's fields (case_number, index, item, text,
    specialty, guideline) from the run's examples file, and ``threshold`` from the run's
    per-fold ``fold_threshold`` metric (step = fold) when the record has none."""
    run_id = run.info.run_id
    path = None
    for name in names:
        path = _find_artifact(c, run_id, name)
        if path:
            break
    if not path:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(c.download_artifacts(run_id, path, tmp))
        rows = [json.loads(x) for x in local.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [r for r in rows if r.get("p_overturned") is not None and r.get("label") is not None
            and r.get("scored", True) and _label_known(r["label"])]
    if rows and any("text" not in r and "item" not in r for r in rows):
        by_id = _examples_by_id(run.data.params.get("examples"))
        for r in rows:
            ex = by_id.get(str(r.get("id")), {})
            for k in ("case_number", "index", "item", "text", "specialty", "guideline", "domain", "setting"):
                if r.get(k) is None and ex.get(k) is not None:
                    r[k] = ex[k]
            if r.get("case_number") is None and "#" in str(r.get("id", "")):
                case, _, idx = str(r["id"]).rpartition("#")
                r["case_number"], r["index"] = case, int(idx) if idx.isdigit() else idx
    if rows and any("threshold" not in r for r in rows):
        try:
            per_fold = {int(m.step): float(m.value) for m in c.get_metric_history(run_id, "fold_threshold")}
        except Exception:  # noqa: BLE001
            per_fold = {}
        for r in rows:
            if "threshold" not in r and r.get("fold") is not None and int(r["fold"]) in per_fold:
                r["threshold"] = per_fold[int(r["fold"])]
    return rows


def _label_known(v: Any) -> bool:
    return not (isinstance(v, (int, float)) and v < 0)


def collect_runs(experiment: str | None = None, run_ids: Sequence[str] | None = None, c=None) -> list[RunData]:
    c = c or registry.client()
    aliases = registry.aliased_runs(c)
    out = []
    for i, r in enumerate(reversed(registry.training_runs(experiment, run_ids, c))):  # oldest first
        model, setting = registry.run_model_setting(r)
        try:
            thr = float(r.data.params.get("threshold", THRESHOLD))
        except ValueError:
            thr = THRESHOLD
        out.append(RunData(
            run_id=r.info.run_id, name=r.info.run_name or r.info.run_id[:8], model=model, setting=setting,
            experiment_id=r.info.experiment_id,
            date=datetime.fromtimestamp(r.info.start_time / 1000).strftime("%Y-%m-%d %H:%M"),
            logged=registry.summarise_metrics(r.data.metrics), aliases=aliases.get(r.info.run_id, []),
            preds=load_predictions(c, r), threshold=thr, color=PALETTE[i % len(PALETTE)]))
    return out


# --------------------------------------------------------------------------- SVG

def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _thin(xs: np.ndarray, ys: np.ndarray, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    if len(xs) <= n:
        return xs, ys
    idx = np.unique(np.linspace(0, len(xs) - 1, n).astype(int))
    return xs[idx], ys[idx]


def svg_chart(series: Sequence[dict[str, Any]], title: str, xlabel: str, ylabel: str, *,
              diagonal: str | None = None, kind: str = "curve", w: int = 380, ph: int = 260) -> str:
    """A [0,1]x[0,1] line chart, legend below. ``series``: dicts with label, legend, color,
    run_id, x, y, optional markers."""
    ml, mr, mt, mb = 48, 12, 28, 42
    pw = w - ml - mr
    h = mt + ph + mb + 15 * len(series) + 4

    def X(v):
        return ml + float(v) * pw

    def Y(v):
        return mt + (1 - float(v)) * ph

    parts = [f'<svg class="plot" data-kind="{_e(kind)}" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
             f'<text x="{w / 2}" y="17" text-anchor="middle" class="ttl">{_e(title)}</text>',
             f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="frame"/>']
    for t in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{X(t):.1f}" y1="{mt}" x2="{X(t):.1f}" y2="{mt + ph}" class="grid"/>'
                     f'<line x1="{ml}" y1="{Y(t):.1f}" x2="{ml + pw}" y2="{Y(t):.1f}" class="grid"/>'
                     f'<text x="{X(t):.1f}" y="{mt + ph + 14}" text-anchor="middle" class="tick">{t:g}</text>'
                     f'<text x="{ml - 5}" y="{Y(t) + 4:.1f}" text-anchor="end" class="tick">{t:g}</text>')
    parts.append(f'<text x="{ml + pw / 2}" y="{mt + ph + 32}" text-anchor="middle" class="axl">{_e(xlabel)}</text>'
                 f'<text transform="translate(12 {mt + ph / 2}) rotate(-90)" text-anchor="middle" '
                 f'class="axl">{_e(ylabel)}</text>')
    if diagonal == "up":
        parts.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(1)}" y2="{Y(1)}" class="ref"/>')
    elif diagonal is not None:  # a horizontal reference (PR chance level)
        parts.append(f'<line x1="{X(0)}" y1="{Y(float(diagonal)):.1f}" x2="{X(1)}" '
                     f'y2="{Y(float(diagonal)):.1f}" class="ref"/>')
    for s in series:
        xs, ys = _thin(np.asarray(s["x"], float), np.asarray(s["y"], float))
        if not len(xs):
            continue
        pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(xs, ys))
        parts.append(f'<polyline class="curve" data-run="{_e(s["run_id"])}" points="{pts}" fill="none" '
                     f'stroke="{s["color"]}" stroke-width="2"><title>{_e(s["label"])}</title></polyline>')
        if s.get("markers"):
            parts += [f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="3" fill="{s["color"]}"/>'
                      for a, b in zip(xs, ys)]
    for i, s in enumerate(series):  # legend below the x-axis label
        y = mt + ph + mb + 15 * i + 8
        parts.append(f'<rect x="{ml}" y="{y - 8}" width="10" height="10" fill="{s["color"]}"/>'
                     f'<text x="{ml + 15}" y="{y + 1}" class="lg">{_e(_short(s["legend"], 52))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_confusion(cm: np.ndarray, title: str, color: str, run_id: str) -> str:
    """2x2 confusion matrix (rows true, columns predicted; Upheld, Overturned)."""
    w, h, x0, y0, cell = 250, 220, 92, 46, 72
    total = max(cm.sum(), 1)
    parts = [f'<svg class="plot cm" data-kind="confusion" data-run="{_e(run_id)}" '
             f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
             f'aria-label="{_e(title)}"><text x="{w / 2}" y="16" text-anchor="middle" class="ttl">'
             f'{_e(_short(title, 34))}</text>'
             f'<text x="{x0 + cell}" y="{y0 - 8}" text-anchor="middle" class="axl">predicted</text>'
             f'<text transform="translate(14 {y0 + cell}) rotate(-90)" text-anchor="middle" '
             f'class="axl">true</text>']
    names = ("Upheld", "Overturned")
    for j, n in enumerate(names):
        parts.append(f'<text x="{x0 + cell * j + cell / 2}" y="{y0 + 2 * cell + 15}" text-anchor="middle" '
                     f'class="tick">{n}</text>'
                     f'<text x="{x0 - 5}" y="{y0 + cell * j + cell / 2 + 4}" text-anchor="end" '
                     f'class="tick">{n}</text>')
    for i in range(2):
        for j in range(2):
            frac = cm[i, j] / total
            parts.append(f'<rect class="cell" x="{x0 + cell * j}" y="{y0 + cell * i}" width="{cell}" '
                         f'height="{cell}" fill="{color}" fill-opacity="{0.08 + 0.8 * frac:.2f}" '
                         f'stroke="#fff"/><text x="{x0 + cell * j + cell / 2}" y="{y0 + cell * i + cell / 2 + 5}" '
                         f'text-anchor="middle" class="num">{int(cm[i, j])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# --------------------------------------------------------------------------- page parts

def _fmt(v: tuple[float, float | None] | None, digits: int = 3) -> str:
    if v is None or v[0] is None or (isinstance(v[0], float) and math.isnan(v[0])):
        return "–"
    m, s = v
    out = f"{m:.{digits}f}"
    if s is not None and not math.isnan(s):
        out += f' <span class="sd">±{s:.{digits}f}</span>'
    return out


def _badges(aliases: Iterable[str]) -> str:
    return "".join(f' <span class="badge {_e(a)}">{"★ " if a == "champion" else ""}{_e(a)}</span>'
                   for a in aliases)


def runs_table_html(runs: list[RunData]) -> str:
    rows = [(r, *r.metrics()) for r in runs]
    names = registry.metric_order({k for _, m, _ in rows for k in m})
    best: dict[str, float] = {}
    for k in names:
        vals = [m[k][0] for _, m, _ in rows if k in m and m[k][0] is not None and not math.isnan(m[k][0])]
        if len(vals) > 1 and max(vals) > min(vals):  # a tie everywhere marks nothing
            best[k] = min(vals) if registry.lower_is_better(k) else max(vals)
    head = "".join(f'<th title="{"lower" if registry.lower_is_better(k) else "higher"} is better">'
                   f'{_e(METRIC_LABELS.get(k, k))} {"↓" if registry.lower_is_better(k) else "↑"}</th>'
                   for k in names)
    body = []
    for r, m, src in rows:
        cells = []
        for k in names:
            v = m.get(k)
            is_best = k in best and v is not None and v[0] == best[k]
            cells.append(f'<td class="num{" best" if is_best else ""}">{_fmt(v)}</td>')
        champ = " champion" if "champion" in r.aliases else ""
        body.append(
            f'<tr class="run{champ}" data-run="{_e(r.run_id)}"><td><span class="sw" style="background:{r.color}">'
            f'</span><b class="rname">{_e(r.name)}</b>{_badges(r.aliases)}<br><code class="rid">{_e(r.run_id)}</code>'
            f'</td><td>{_e(r.model)}</td><td>{_e(r.setting)}</td><td class="num">{len(r.preds)}</td>{"".join(cells)}'
            f'<td class="src">{src}</td><td>{_e(r.date)}</td></tr>')
    return (f'<table id="runs" class="grid-table"><thead><tr><th>run</th><th>model</th><th>setting</th>'
            f'<th>items</th>{head}<th>metrics</th><th>date</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def curves_html(runs: list[RunData]) -> str:
    from sklearn.metrics import precision_recall_curve, roc_curve

    roc, pr, rel = [], [], []
    prevalence = None
    for r in runs:
        if not r.preds:
            continue
        y, p, _ = r.arrays()
        base = dict(run_id=r.run_id, color=r.color, label=r.name)
        if len(set(y.tolist())) == 2:
            fpr, tpr, _ = roc_curve(y, p)
            m = compute_metrics(y, p, r.thresholds())
            roc.append({**base, "x": fpr, "y": tpr, "legend": f"{r.name} ({m['auroc']:.2f})"})
            prec, rec, _ = precision_recall_curve(y, p)
            pr.append({**base, "x": rec[::-1], "y": prec[::-1], "legend": f"{r.name} ({m['auprc']:.2f})"})
            prevalence = float(y.mean())
        bins = np.minimum((p * 10).astype(int), 9)
        xs = [p[bins == b].mean() for b in range(10) if (bins == b).any()]
        ys = [y[bins == b].mean() for b in range(10) if (bins == b).any()]
        rel.append({**base, "x": xs, "y": ys, "markers": True, "legend": f"{r.name} (ECE {ece(y, p):.2f})"})
    return ('<div class="plots">'
            + svg_chart(roc, "ROC (pooled out-of-fold)", "false positive rate", "true positive rate",
                        diagonal="up", kind="roc")
            + svg_chart(pr, "Precision–recall, Overturned", "recall", "precision",
                        diagonal=None if prevalence is None else f"{prevalence}", kind="pr")
            + svg_chart(rel, "Reliability (10 bins)", "mean predicted P(Overturned)", "observed frequency",
                        diagonal="up", kind="reliability")
            + "</div>")


def confusion_html(runs: list[RunData]) -> str:
    from sklearn.metrics import confusion_matrix

    out = []
    for r in runs:
        if not r.preds:
            continue
        y, p, _ = r.arrays()
        cm = confusion_matrix(y, r.predicted(), labels=[0, 1])
        out.append(svg_confusion(cm, r.name, r.color, r.run_id))
    return '<div class="plots">' + "".join(out) + "</div>"


def facets(rec: dict[str, Any]) -> dict[str, list[str]]:
    """The slice values of one predicted item: specialty, treatment type, guideline sources."""
    gs = rec.get("guideline_source") or rec.get("guideline_sources")
    if isinstance(gs, str):
        gs = [gs]
    if not gs:
        line = rec.get("guideline") if rec.get("guideline") is not None else rec.get("claims_administrator_guideline")
        gs = guideline_sources(line)
    item = rec.get("item") or rec.get("text") or ""
    return {"specialty": [primary_specialty(rec.get("specialty"))],
            "treatment type": [rec.get("treatment_type") or treatment_type(item)],
            "guideline source": list(gs)}


def slices_html(runs: list[RunData]) -> str:
    runs = [r for r in runs if r.preds]
    if not runs:
        return "<p>No run has out-of-fold predictions.</p>"
    cache: dict[str, list[dict[str, list[str]]]] = {}
    facet_cache: dict[tuple, dict[str, list[str]]] = {}
    for r in runs:
        lst = []
        for rec in r.preds:
            key = (rec.get("case_number"), rec.get("index"), rec.get("id"), rec.get("item"), rec.get("guideline"))
            if key not in facet_cache:
                facet_cache[key] = facets(rec)
            lst.append(facet_cache[key])
        cache[r.run_id] = lst
    item_sets = {frozenset((rec.get("id"), rec.get("case_number"), rec.get("index")) for rec in r.preds)
                 for r in runs}
    same = len(item_sets) == 1  # runs on the same items: one count column; else one per run
    cols = ([] if same else ["n"]) + list(SLICE_METRICS)
    sections = []
    for dim, note in (("specialty", "the reviewer's first listed board certification"),
                      ("treatment type", "the disputed item, by the classifier's keyword table"),
                      ("guideline source", "cited in the claims administrator's guideline line; an item citing "
                                           "two sources counts in both")):
        values: dict[str, int] = {}
        for r in (runs[:1] if same else runs):
            for f in cache[r.run_id]:
                for v in f[dim]:
                    values[v] = values.get(v, 0) + 1
        order = sorted(values, key=lambda v: (-values[v], v))
        head = "".join(f'<th colspan="{len(cols)}" style="border-top:3px solid {r.color}">'
                       f'{_e(r.name)}</th>' for r in runs)
        sub = "".join(f"<th>{_e(METRIC_LABELS.get(m, m))}</th>" for _ in runs for m in cols)
        body = []
        for v in order:
            cells = []
            n_items = n_over = None
            for r in runs:
                y, p, _ = r.arrays()
                t = r.thresholds()
                mask = np.array([v in f[dim] for f in cache[r.run_id]], dtype=bool)
                if n_items is None:
                    n_items, n_over = int(mask.sum()), int(y[mask].sum())
                m = compute_metrics(y[mask], p[mask], t[mask]) if mask.any() else {}
                if not same:
                    cells.append(f'<td class="num">{int(mask.sum())}</td>')
                cells += [f'<td class="num">{_fmt((m.get(k, float("nan")), None), 2)}</td>' for k in SLICE_METRICS]
            counts = (f'<td class="num">{n_items}</td><td class="num">{n_over}</td>' if same
                      else '<td class="num">–</td><td class="num">–</td>')
            body.append(f'<tr><td>{_e(v)}</td>{counts}{"".join(cells)}</tr>')
        sections.append(
            f'<h3>By {_e(dim)} <small>({_e(note)})</small></h3><table class="grid-table slice" '
            f'data-dim="{_e(dim)}"><thead><tr><th rowspan="2">{_e(dim)}</th><th rowspan="2">items</th>'
            f'<th rowspan="2">overturned</th>{head}</tr><tr>{sub}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    return "".join(sections)


def errors_html(runs: list[RunData], limit_per_run: int = 500) -> str:
    opts = "".join(f'<option value="{_e(r.run_id)}">{_e(r.name)}</option>' for r in runs)
    rows = []
    counts = {}
    for r in runs:
        n = 0
        for rec, pred in zip(r.preds, r.predicted().tolist()):
            y, p = _as_label(rec["label"]), float(rec["p_overturned"])
            if pred == y:
                continue
            n += 1
            if n > limit_per_run:
                continue
            text = rec.get("text") or ""
            item = rec.get("item") or text[:200]
            rows.append(
                f'<tr data-run="{_e(r.run_id)}"><td><span class="sw" style="background:{r.color}"></span>'
                f'{_e(r.name)}</td><td>{_e(rec.get("case_number") or rec.get("id") or "")}'
                f'{"#" + _e(rec["index"]) if rec.get("index") is not None else ""}</td>'
                f'<td class="txt"><b>{_e(item)}</b>'
                + (f'<details><summary>model input</summary><div class="inp">{_e(text)}</div></details>' if text else "")
                + f'</td><td>{"Overturned" if y else "Upheld"}</td><td>{"Overturned" if pred else "Upheld"}</td>'
                f'<td class="num">{p:.3f}</td><td class="num">{_e(rec.get("fold", ""))}</td></tr>')
        counts[r.run_id] = n
    summary = ", ".join(f"{_e(r.name)}: {counts.get(r.run_id, 0)}" for r in runs)
    return (f'<p>Misclassified items at each run\'s threshold ({summary}).</p>'
            f'<div class="filters"><label>run <select id="err-run"><option value="">all runs</option>{opts}'
            f'</select></label> <label>text <input id="err-q" type="search" placeholder="filter items"></label> '
            f'<span id="err-n"></span></div><table id="errors" class="grid-table"><thead><tr><th>run</th>'
            f'<th>case#item</th><th>item</th><th>true</th><th>predicted</th><th>P(Overturned)</th><th>fold</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:20px 28px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}small,.meta{color:#666;font-weight:normal}
.grid-table{border-collapse:collapse;font-size:13px}.grid-table th,.grid-table td{border:1px solid #ddd;
padding:3px 7px;vertical-align:top}.grid-table th{background:#f5f5f5}td.num{text-align:right;
font-variant-numeric:tabular-nums;white-space:nowrap}td.best{background:#e3f4e1;font-weight:bold}
.sd{color:#777;font-weight:normal;font-size:11px}tr.champion td{background:#fff8dc}tr.champion td.best{background:#e8efc8}
.badge{font-size:11px;padding:1px 6px;border-radius:8px;color:#fff;background:#888}.badge.champion{background:#b8860b}
.badge.challenger{background:#4169e1}code.rid{font-size:10px;color:#777}.sw{display:inline-block;width:10px;
height:10px;margin-right:5px;border-radius:2px}.plots{display:flex;flex-wrap:wrap;gap:14px}
svg.plot{background:#fff;border:1px solid #eee}svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}
svg .ref{stroke:#aaa;stroke-dasharray:4 3}svg .tick{font-size:10px;fill:#555}svg .axl{font-size:11px;fill:#333}
svg .ttl{font-size:13px;font-weight:bold}svg .lg{font-size:10px}svg .num{font-size:15px;font-weight:bold}
#errors td.txt{max-width:620px}.inp{white-space:pre-wrap;font-size:12px;color:#444;max-height:220px;overflow:auto}
.filters{margin:6px 0}.src{color:#777;font-size:11px}
"""

JS = """
(function(){
  var sel=document.getElementById('err-run'),q=document.getElementById('err-q'),
      n=document.getElementById('err-n'),rows=document.querySelectorAll('#errors tbody tr');
  function apply(){
    var run=sel.value,t=q.value.toLowerCase(),shown=0;
    for(var i=0;i<rows.length;i++){
      var ok=(!run||rows[i].getAttribute('data-run')===run)&&(!t||rows[i].textContent.toLowerCase().indexOf(t)>=0);
      rows[i].style.display=ok?'':'none'; if(ok){shown++;}
    }
    n.textContent=shown+' of '+rows.length+' shown';
  }
  sel.addEventListener('change',apply); q.addEventListener('input',apply); apply();
})();
"""


def render(runs: list[RunData], *, title: str = "imr model comparison", store: str = "",
           experiment: str | None = None) -> str:
    missing = [r.name for r in runs if not r.preds]
    note = (f'<p class="meta">No <code>{PREDICTIONS_ARTIFACT}</code> artifact in: {_e(", ".join(missing))} '
            f'(curves, slices and errors leave these runs out).</p>' if missing else "")
    champ = [r for r in runs if "champion" in r.aliases]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head><body>
<h1>{_e(title)}</h1>
<p class="meta">{len(runs)} runs{' in experiment ' + _e(experiment) if experiment else ''} · store {_e(store)} ·
generated {datetime.now().strftime('%Y-%m-%d %H:%M')} · champion: {_e(champ[0].name) if champ else 'none set'}
· positive class Overturned · metrics are mean <span class="sd">±std</span> across folds, best per column in green</p>
{note}
<h2 id="runs-h">Runs</h2>
{runs_table_html(runs)}
<h2>Curves <small>(out-of-fold predictions of every item, pooled)</small></h2>
{curves_html(runs)}
<h2>Confusion matrices <small>(at each run's threshold)</small></h2>
{confusion_html(runs)}
<h2>Slices <small>(pooled out-of-fold; counts are items and Overturned items in the slice)</small></h2>
{slices_html(runs)}
<h2>Error browser</h2>
{errors_html(runs)}
<script>{JS}</script>
</body></html>
"""


def build_report(out: str | Path, experiment: str | None = None, run_ids: Sequence[str] | None = None,
                 log: bool = True, c=None) -> tuple[Path, list[RunData], str | None]:
    """Write the page to ``out``; with ``log``, also log it as the artifact of a comparison run
    (tagged ``imr.kind=comparison``) in the compared runs' experiment. Returns (path, runs,
    comparison run id)."""
    c = c or registry.client()
    runs = collect_runs(experiment, run_ids, c)
    if not runs:
        raise LookupError("no training runs to compare" + (f" in experiment {experiment!r}" if experiment else ""))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(runs, store=registry.tracking_uri(), experiment=experiment), encoding="utf-8")
    compare_id = log_comparison(out, runs, c) if log else None
    return out, runs, compare_id


def log_comparison(page: Path, runs: list[RunData], c=None) -> str:
    c = c or registry.client()
    exp = runs[0].experiment_id
    run = c.create_run(exp, run_name=f"compare-{datetime.now():%Y%m%d-%H%M%S}",
                       tags={registry.COMPARISON_TAG: registry.COMPARISON_VALUE})
    rid = run.info.run_id
    try:
        c.log_param(rid, "runs", ",".join(r.run_id for r in runs)[:6000])
        c.log_param(rid, "n_runs", len(runs))
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / REPORT_ARTIFACT
            dst.write_bytes(page.read_bytes())
            c.log_artifact(rid, str(dst))
        c.set_terminated(rid, "FINISHED")
    except Exception:
        c.set_terminated(rid, "FAILED")
        raise
    return rid
