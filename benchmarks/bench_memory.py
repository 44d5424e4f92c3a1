"""Peak RSS of `imr predict` (local engine) for 200 vs 2,000 letters: memory stays flat.

    python benchmarks/bench_memory.py --model models/dwc-prior [--sizes 200 2000]

The letters are the shipped ones (data/raw/dwc_letters/text) copied under new names into a
temporary folder (data/raw is never touched). Each size runs `imr predict` in its own
process; its peak RSS (ru_maxrss of the child) is printed with the ratio to the smallest run.
Without --model a tiny untrained classifier (1 MiniLM layer) is built so the run measures the
streaming engine, not the model's speed.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}


def make_letters(folder: Path, n: int) -> Path:
    src = sorted((ROOT / "data/raw/dwc_letters/text").glob("*.txt"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shutil.copy(src[i % len(src)], folder / f"letter-{i:06d}.txt")
    return folder


def run(folder: Path, model: str, out: Path) -> tuple[float, float, str]:
    """(peak RSS MiB, seconds, summary line) of one `imr predict` child process."""
    t = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "predict", str(folder), "--model", model,
                           "--out", str(out), "--quiet"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak < before:  # ru_maxrss of children is the max over all of them
        peak = before
    return peak / 1024, time.time() - t, proc.stderr.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    model = args.model
    if not model:
        from tests.conftest import build_tiny_model

        model = str(build_tiny_model(tmp / "tiny-model"))
    rows = []
    # the largest first: ru_maxrss of children only grows, so later (smaller) runs would be hidden;
    # each size therefore runs in a fresh interpreter of its own
    for n in args.sizes:
        folder = make_letters(tmp / f"letters-{n}", n)
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.bench_memory import run; "
                f"from pathlib import Path; r = run(Path({str(folder)!r}), {model!r}, Path({str(tmp / f'out-{n}.parquet')!r})); "
                "print(repr(r))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr)
        peak, secs, line = eval(out.stdout.strip().splitlines()[-1])
        rows.append((n, peak, secs, line))
        shutil.rmtree(folder)
    base = rows[0][1]
    print(f"model {model}")
    print(f"{'letters':>8}{'peak RSS MiB':>14}{'vs first':>10}{'seconds':>9}")
    for n, peak, secs, line in rows:
        print(f"{n:>8}{peak:>14.0f}{peak / base:>9.2f}x{secs:>9.0f}   {line.split(' -> ')[0]}")
    spread = max(r[1] for r in rows) / min(r[1] for r in rows) - 1
    print(f"\npeak RSS spread {spread:.1%} (issue: within 10%): {'MET' if spread <= 0.10 else 'NOT MET'}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
