"""Entity scoring on the gold set: per-label P/R/F1, by exact span and by overlap.

As docs/ANNOTATION.md defines it: a predicted entity is an exact match when its
(label, start, end) equals a gold span's; an overlap match when it overlaps a gold
span of the same label. Negated/hedged DIAGNOSIS entities ("rule out X") and entities
in the letter header are not predictions (the guideline does not annotate them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from spacy.language import Language

from .. import store
from .entities import LABELS
from .gold import letter_text, load_gold
from .tag import scored_entities


def _prf(tp_p: int, n_pred: int, tp_g: int, n_gold: int) -> dict[str, float]:
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_g / n_gold if n_gold else 0.0
    return {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def score_spans(pairs: Iterable[tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]],
                labels: Iterable[str] = LABELS) -> dict[str, dict]:
    """``pairs`` of (predicted, gold) (start, end, label) lists, one per letter."""
    counts = {lab: {"pred": 0, "gold": 0, "exact": 0, "ov_pred": 0, "ov_gold": 0} for lab in labels}
    for pred, gold in pairs:
        for lab, c in counts.items():
            p = [s for s in pred if s[2] == lab]
            g = [s for s in gold if s[2] == lab]
            c["pred"] += len(p)
            c["gold"] += len(g)
            c["exact"] += len(set(p) & set(g))
            c["ov_pred"] += sum(any(a < ge and gs < b for gs, ge, _ in g) for a, b, _ in p)
            c["ov_gold"] += sum(any(a < ge and gs < b for a, b, _ in p) for gs, ge, _ in g)
    out = {}
    for lab, c in counts.items():
        out[lab] = {"exact": _prf(c["exact"], c["pred"], c["exact"], c["gold"]),
                    "overlap": _prf(c["ov_pred"], c["pred"], c["ov_gold"], c["gold"]),
                    "n_gold": c["gold"], "n_pred": c["pred"]}
    return out


def predict(nlp: Language, gold: Optional[list[str | Path]] = None):
    """(case, text, predicted, annotated) per annotated letter, (start, end, label) lists."""
    spans = load_gold(gold)
    cases = sorted(spans)
    texts = [letter_text(c) for c in cases]
    for case, text, doc in zip(cases, texts, nlp.pipe(texts)):
        pred = [(e["start"], e["end"], e["label"]) for e in scored_entities(doc)]
        yield case, text, pred, [(s["start"], s["end"], s["label"]) for s in spans[case]]


def evaluate(nlp: Language, gold: Optional[list[str | Path]] = None) -> dict[str, dict]:
    """Run ``nlp`` on each annotated letter's exact file text and score against its offsets."""
    rows = list(predict(nlp, gold))
    result = score_spans([(p, g) for _, _, p, g in rows])
    result["_letters"] = len(rows)
    return result


def predict_texts(nlp: Language, items: list[dict]):
    """(id, text, predicted, annotated) per annotated text ({id, text, spans}: the health-plan
    annotations, `pipeline.nlp.gold.load_texts`)."""
    for it, doc in zip(items, nlp.pipe(it["text"] for it in items)):
        pred = [(e["start"], e["end"], e["label"]) for e in scored_entities(doc)]
        yield it["id"], it["text"], pred, [(s["start"], s["end"], s["label"]) for s in it["spans"]]


def evaluate_texts(nlp: Language, items: list[dict]) -> dict[str, dict]:
    """`evaluate` for annotated free texts."""
    rows = list(predict_texts(nlp, items))
    result = score_spans([(p, g) for _, _, p, g in rows])
    result["_letters"] = len(rows)
    return result


def span_errors(case: str, text: str, pred, gold) -> list[dict]:
    """The disagreements of one letter: ``boundary`` (same label, overlapping, other offsets),
    ``label`` (same offsets, other label), ``missed`` (annotated, nothing overlapping with its
    label) and ``spurious`` (predicted, nothing annotated overlapping with its label)."""
    out = []
    ps, gs = set(pred), set(gold)
    fp = sorted(ps - gs)
    fn = sorted(gs - ps)
    used: set = set()

    def show(s, e):
        return " ".join(text[s:e].split())

    def ctx(s, e):
        return " ".join(text[max(0, s - 50):s].split()) + " [[" + show(s, e) + "]] " + \
            " ".join(text[e:e + 50].split())

    for g in fn:
        over = [p for p in fp if p[2] == g[2] and p[0] < g[1] and g[0] < p[1]]
        same = [p for p in fp if p[:2] == g[:2]]
        if over:
            for p in over:
                used.add(p)
            out.append({"case": case, "kind": "boundary", "label": g[2], "gold": show(*g[:2]),
                        "pred": " | ".join(show(*p[:2]) for p in over), "context": ctx(*g[:2])})
        elif same:
            used.update(same)
            out.append({"case": case, "kind": "label", "label": g[2], "gold": show(*g[:2]),
                        "pred": same[0][2], "context": ctx(*g[:2])})
        else:
            out.append({"case": case, "kind": "missed", "label": g[2], "gold": show(*g[:2]),
                        "pred": "", "context": ctx(*g[:2])})
    for p in fp:
        if p not in used and not any(p[2] == g[2] and p[0] < g[1] and g[0] < p[1] for g in gs):
            out.append({"case": case, "kind": "spurious", "label": p[2], "gold": "",
                        "pred": show(*p[:2]), "context": ctx(*p[:2])})
    return out


def errors(nlp: Language, gold: Optional[list[str | Path]] = None) -> list[dict]:
    """All disagreements on the annotated letters (for rule work: run it on data/dev only)."""
    return [err for row in predict(nlp, gold) for err in span_errors(*row)]


def format_errors(errs: list[dict]) -> str:
    lines = []
    for kind in ("boundary", "missed", "spurious", "label"):
        sel = [e for e in errs if e["kind"] == kind]
        lines.append(f"== {kind} ({len(sel)})")
        for e in sorted(sel, key=lambda e: (e["label"], e["case"])):
            what = {"boundary": f"gold={e['gold']!r} pred={e['pred']!r}",
                    "label": f"gold={e['gold']!r} pred label={e['pred']}",
                    "missed": f"gold={e['gold']!r}", "spurious": f"pred={e['pred']!r}"}[kind]
            lines.append(f"{e['label']:<9} {e['case']}  {what}\n          … {e['context']}")
    return "\n".join(lines)


def format_scores(scores: dict[str, dict]) -> str:
    lines = [f"{'label':<10} {'n_gold':>6} {'n_pred':>6}  {'exact P':>7} {'R':>6} {'F1':>6}  "
             f"{'overlap P':>9} {'R':>6} {'F1':>6}"]
    for lab in LABELS:
        s = scores[lab]
        e, o = s["exact"], s["overlap"]
        lines.append(f"{lab:<10} {s['n_gold']:>6} {s['n_pred']:>6}  {e['p']:>7.3f} {e['r']:>6.3f} "
                     f"{e['f1']:>6.3f}  {o['p']:>9.3f} {o['r']:>6.3f} {o['f1']:>6.3f}")
    return "\n".join(lines)


def log_mlflow(scores: dict[str, dict], params: dict, experiment: str = store.TAGGER_EXPERIMENT) -> str:
    """Log the scores as a run of the ``tagger`` experiment in the project's store (`pipeline.store`)."""
    import mlflow

    store.use_experiment(experiment)
    with mlflow.start_run(run_name="evaluate-tagger") as run:
        mlflow.log_params(params)
        for lab in LABELS:
            for kind in ("exact", "overlap"):
                for k, v in scores[lab][kind].items():
                    mlflow.log_metric(f"{lab}_{kind}_{k}", v)
        mlflow.log_dict(scores, "tagger_scores.json")
        return run.info.run_id
