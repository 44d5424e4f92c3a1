"""PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8 on the same items, in one run.

    python benchmarks/bench_inference.py --model models/dwc-rationale [--setting rationale]

MODEL: a transformer classifier (models/<name>, an MLflow URI). Without one, ``--train``
fine-tunes a small MiniLM classifier on the shipped letters first (a few minutes on 2 cores).
Prints items/s of each, the ratios to PyTorch fp32, the share of identical predictions and
the AUROC of each against the letters' decisions. Floor (issue): int8 >= 1.8x PyTorch fp32
items/s, >= 99% identical predictions, AUROC within 0.01.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


ITEMS = ROOT / "data/extracted/dwc-items.jsonl"


def examples_of(setting: str, n_letters: int | None):
    """The model's real inputs for its setting: every item row of `make run`'s extraction
    (data/extracted/dwc-items.jsonl, 155 letters / 372 items, what training read), else of
    the letters' text files (154 letters / 370 items)."""
    from pipeline.classify.examples import letter_examples, row_examples
    from pipeline.io.records import read_jsonl
    from pipeline.io.schema import ParseError
    from pipeline.io.sources import read_records

    if ITEMS.exists():
        rows = list(read_jsonl(ITEMS))
        keep = list(dict.fromkeys(r["source"] for r in rows))[:n_letters]
        return row_examples([r for r in rows if r["source"] in set(keep)], setting)
    files = sorted((ROOT / "data/raw/dwc_letters/text").glob("*.txt"))[:n_letters]
    return letter_examples([r for r in read_records(files) if not isinstance(r, ParseError)], setting)


def train_small(setting: str, out: Path) -> Path:
    """Fine-tune MiniLM (2 epochs, max_length 128) on every letter; save as a pyfunc folder."""
    from pipeline.classify.tracking import save_pyfunc
    from pipeline.classify.transformer import TransformerClassifier

    exs = examples_of(setting, None)
    clf = TransformerClassifier(data={"max_length": 128, "head_tokens": 32},
                                training={"num_train_epochs": 2, "learning_rate": 5e-5})
    t = time.time()
    clf.fit(exs)
    clf.info = {"domain": "dwc", "setting": setting, "model": "minilm-bench", "run": f"dwc-{setting}-bench"}
    print(f"trained on {len(exs)} items in {time.time() - t:.0f}s (scores below are in-sample)", flush=True)
    return save_pyfunc(clf, out)


def timed(engines: dict, exs, repeats: int):
    """Best-of-``repeats`` items/s of each engine on all of ``exs``. The engines take turns
    (round-robin, not one after the other), so that a change in the load of a shared machine
    hits them alike; a warm-up call on one full batch first is not timed."""
    for fn in engines.values():
        fn(exs[:64])
    best = {k: float("inf") for k in engines}
    out = {}
    for _ in range(repeats):
        for k, fn in engines.items():
            t = time.perf_counter()
            out[k] = fn(exs)
            best[k] = min(best[k], time.perf_counter() - t)
    return {k: (out[k], len(exs) / best[k]) for k in engines}


def main() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="transformer model (models/<name>, MLflow URI)")
    ap.add_argument("--setting", default=None)
    ap.add_argument("--train", action="store_true", help="fine-tune a small model first if MODEL is absent")
    ap.add_argument("--letters", type=int, default=None, help="letters to score (default: all 155)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="items per forward pass in every engine (default: the model's eval_batch_size)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--omp-passive", action="store_true",
                    help="OMP_WAIT_POLICY=PASSIVE: no busy-waiting threads in PyTorch (OpenMP) nor in "
                         "ONNX Runtime (pipeline.serve.onnx honours it); fairer to both on a loaded, shared CPU")
    args = ap.parse_args()
    if args.omp_passive:  # read once, when torch's OpenMP runtime starts: before importing torch
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

    import torch

    # the PyTorch classifier sets its thread count on each call (IMR_TORCH_THREADS, else its
    # config's num_threads): the same count as ONNX Runtime's intra-op threads
    os.environ["IMR_TORCH_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    from pipeline.serve.export import export
    from pipeline.serve.onnx import OnnxScorer
    from pipeline.serve.scorers import load_scorer

    tmp = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    model = args.model
    if not model or not (Path(model).exists() or ":/" in model):
        if not args.train:
            sys.exit("no --model given (or it does not exist); pass --train to fine-tune a small one")
        model = str(train_small(args.setting or "rationale", tmp / "model"))
    torch_sc = load_scorer(model, setting=args.setting)
    setting = torch_sc.setting
    out = export(model, tmp / "onnx", quantize="int8")
    fp32 = OnnxScorer(out, precision="fp32", threads=args.threads, batch_size=args.batch_size)
    int8 = OnnxScorer(out, precision="int8", threads=args.threads, batch_size=args.batch_size)
    if args.batch_size:  # the PyTorch classifier inside the pyfunc model batches alike
        torch_sc.model.unwrap_python_model().classifier.data_args.eval_batch_size = args.batch_size
    exs = examples_of(setting, args.letters)
    y = np.array([e.label for e in exs])
    thr = torch_sc.threshold
    # same items, same encoding (head+tail truncation, length-sorted batches of the model's
    # eval_batch_size, dynamic padding) and calibration, same thread count in each engine
    engines = {"pytorch-fp32": torch_sc.predict_proba, "onnx-fp32": fp32.predict_proba,
               "onnx-int8": int8.predict_proba}
    res = {}
    for name, (p, ips) in timed(engines, exs, args.repeats).items():
        res[name] = {"items_per_s": ips, "p": p, "auroc": float(roc_auc_score(y, p)) if len(set(y)) == 2 else None}
    base = res["pytorch-fp32"]
    print(f"\nmodel {model} ({setting}), {len(exs)} items, {args.threads} threads, batch {int8.batch_size}, "
          f"best of {args.repeats} (round-robin); same pred = same label at threshold {thr:g}")
    print(f"{'engine':<14}{'items/s':>9}{'x torch':>9}{'same pred':>11}{'max |dp|':>10}{'AUROC':>8}{'dAUROC':>9}")
    summary = {"model": model, "setting": setting, "items": len(exs), "threads": args.threads,
               "threshold": thr, "batch_size": int8.batch_size,
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_avg": os.getloadavg()}
    for name, r in res.items():
        same = float(((r["p"] >= thr) == (base["p"] >= thr)).mean())  # labels at the model's threshold
        dp = float(np.abs(r["p"] - base["p"]).max())
        da = (r["auroc"] - base["auroc"]) if r["auroc"] is not None else float("nan")
        print(f"{name:<14}{r['items_per_s']:>9.1f}{r['items_per_s'] / base['items_per_s']:>8.2f}x"
              f"{same:>10.1%}{dp:>10.4f}{r['auroc'] or float('nan'):>8.4f}{da:>+9.4f}")
        summary[name] = {"items_per_s": r["items_per_s"], "ratio": r["items_per_s"] / base["items_per_s"],
                         "identical_predictions": same, "max_abs_dp": dp, "auroc": r["auroc"], "auroc_delta": da}
    i8 = summary["onnx-int8"]
    ok = i8["ratio"] >= 1.8 and i8["identical_predictions"] >= 0.99 and abs(i8["auroc_delta"]) <= 0.01
    print(f"\nfloor (int8 >= 1.8x, >= 99% identical, |dAUROC| <= 0.01): {'MET' if ok else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
