"""Words per second: ``imr extract`` (parse + tag + item rows) vs ``imr tag`` alone, the same
tagger on the same letters, in one run; and the cost of ``imr predict --explain``.

    python benchmarks/bench_extract.py [--model models/tagger] [--classifier models/dwc-rationale] [LETTER_DIR...]

Prints both speeds and their ratio (extract / tag; 1.0 = no overhead over tagging), and with
``--classifier`` the items/s of scoring with and without the evidence of ``--explain``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", default=[str(ROOT / "data/raw/dwc_letters/text")])
    ap.add_argument("--model", default=None, help="tagger (default models/tagger, or the rules alone)")
    ap.add_argument("--classifier", default=None, help="a classifier folder: also time --explain")
    ap.add_argument("--limit", type=int, default=60, help="letters")
    args = ap.parse_args(argv)

    from pipeline.extract.items import extract_batch
    from pipeline.io.sources import read_records
    from pipeline.nlp.build import load_tagger
    from pipeline.nlp.tag import tag_batch

    files = [f for d in args.dirs for f in sorted(Path(d).glob("*.txt"))][: args.limit]
    records = list(read_records(files))
    words = sum(len(f.read_text(encoding="utf-8").split()) for f in files)
    nlp = load_tagger(args.model)
    # warm up: load-once costs are not throughput (the models; the drug dictionary that
    # treatment_category loads, 1.5 s, the first time a mention matches no category word)
    from pipeline.extract.facets import treatment_category

    tag_batch(nlp, records[:2])
    extract_batch(nlp, records[:2])
    treatment_category(["Ultrasling"])  # no category word: the dictionary is asked
    t0 = time.perf_counter()
    tag_batch(nlp, records)
    t_tag = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows, _ = extract_batch(nlp, records)
    t_extract = time.perf_counter() - t0
    result = {"letters": len(files), "words": words, "items": len(rows),
              "tag_words_per_s": round(words / t_tag), "extract_words_per_s": round(words / t_extract),
              "ratio": round(t_tag / t_extract, 3)}
    print(f"imr tag      {words / t_tag:9.0f} words/s")
    print(f"imr extract  {words / t_extract:9.0f} words/s  ({len(rows)} item rows)")
    print(f"ratio (extract / tag): {result['ratio']:.2f} on {len(files)} letters, {words} words")
    if args.classifier:
        from pipeline.classify.examples import row_examples
        from pipeline.serve.explain import explain
        from pipeline.serve.scorers import load_scorer

        scorer = load_scorer(args.classifier)
        exs = row_examples(rows, scorer.setting)
        t0 = time.perf_counter()
        p = scorer.predict_proba(exs)
        t_score = time.perf_counter() - t0
        t0 = time.perf_counter()
        explain(scorer, exs, p)
        t_explain = time.perf_counter() - t0
        result.update({"score_items_per_s": round(len(exs) / t_score, 1),
                       "explain_items_per_s": round(len(exs) / t_explain, 2),
                       "explain_cost": round((t_explain + t_score) / t_score, 1)})
        print(f"scoring      {len(exs) / t_score:9.1f} items/s; with --explain {len(exs) / t_explain:.2f} items/s "
              f"({result['explain_cost']}x the time)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
