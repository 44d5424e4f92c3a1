"""Train the fast tagger (``configs/tagger_fast.cfg``): one small NER that reads the entity
rules and two clinical vocabularies as token features, learnt from the hand-labelled
development letters (data/dev), silver labels from the rules on any other letter outside
the gold set, and the hand-annotated health-plan texts. The gold letters and the frozen
health-plan test part are never used.

``make_corpus`` writes DocBin corpora (one doc per letter section, so the NER sees each
entity with its context); ``train_ner`` runs spaCy's own training loop on a config;
``train_fast_tagger`` does all of it and saves the whole pipeline (``models/tagger``).
"""
from __future__ import annotations

import random
import shutil
import time
from pathlib import Path
from typing import Iterable, Optional

import spacy
from spacy.tokens import Doc, DocBin

from .. import project
from .build import build_nlp, default_model
from .gold import dev_spans, gold_cases, load_texts


def default_corpus_dir() -> Path:
    """Where the training DocBins go (data/nlp, git-ignored)."""
    return project.data_dir() / "nlp"


def train_sources() -> list[Path]:
    raw = project.data_dir() / "raw"
    return [raw / "dwc_letters" / "text", raw / "seed"]


def training_files(sources: Optional[Iterable[str | Path]] = None,
                   exclude: Optional[set[str]] = None) -> list[Path]:
    """Letter .txt files in ``sources`` whose case number is not in the gold set."""
    exclude = gold_cases() if exclude is None else exclude
    files = []
    for src in map(Path, train_sources() if sources is None else sources):
        for f in sorted(src.glob("*.txt")) if src.is_dir() else [src]:
            text = f.read_text(encoding="utf-8", errors="replace")
            if f.stem in exclude or any(case in text[:400] for case in exclude):
                continue
            files.append(f)
    return files


def section_docs(doc: Doc, max_tokens: int = 400) -> list[Doc]:
    """One doc per section (long ones cut at sentence starts), entities kept."""
    out = []
    for name, start, end, _ in doc._.sections or []:
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None or not span.text.strip() or name == "header":
            continue
        cut = span.start
        for sent_start in [t.i for t in span if t.is_sent_start] + [span.end]:
            if sent_start - cut >= max_tokens or (sent_start == span.end and sent_start > cut):
                piece = doc[cut:sent_start]
                if piece.text.strip():
                    d = piece.as_doc()
                    d.ents = [e for e in d.ents if not (e[0].is_space or e[-1].is_space)]
                    out.append(d)
                cut = sent_start
    return out


def hand_label(doc: Doc, spans: list[dict]) -> Doc:
    """Replace the rule entities of ``doc`` by hand-annotated char spans (snapped to tokens)."""
    ents = []
    for s in spans:
        sp = doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="contract")
        if sp is not None and len(sp):
            ents.append(sp)
    from spacy.util import filter_spans
    doc.ents = filter_spans(ents)
    return doc


def dev_train_letters(files: list[Path], hand: dict[str, list[dict]], dev_share: float = 0.1,
                      seed: int = 0) -> tuple[list[Path], list[Path]]:
    """(dev, train) letters. Every hand-labelled letter trains: they are the only real labels
    and there are few. The dev split (spaCy's progress display only: the NER is taken at its
    last step, see `train_ner`) is up to ``dev_share`` of the letters, silver ones only; with
    no silver letter it is one hand-labelled letter that also trains; a single letter only trains."""
    if len(files) < 2:
        return [], files
    silver = [f for f in files if f.stem not in hand]
    labelled = [f for f in files if f.stem in hand]
    random.Random(seed).shuffle(silver)
    n_dev = min(len(silver), max(1, int(len(files) * dev_share)))
    if n_dev:
        return silver[:n_dev], silver[n_dev:] + labelled
    return labelled[:1], labelled


def make_corpus(files: list[Path], out_dir: Optional[Path] = None, dev_share: float = 0.1,
                seed: int = 0, hand: Optional[dict[str, list[dict]]] = None,
                holdout: Optional[set[str]] = None) -> dict[str, int]:
    """DocBins ``train.spacy`` / ``dev.spacy`` (split by letter, `dev_train_letters`) under
    ``out_dir``: the letters in ``hand`` (default: the development set) with their hand
    labels, the others with silver labels from the rules; letters in ``holdout`` are left
    out entirely."""
    out_dir = default_corpus_dir() if out_dir is None else out_dir
    nlp = build_nlp()
    hand = dev_spans() if hand is None else hand
    files = [f for f in files if f.stem not in (holdout or set())]
    dev, train = dev_train_letters(files, hand, dev_share, seed)
    counts = {"hand_letters": sum(f.stem in hand for f in files)}
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, part in (("dev", dev), ("train", train)):
        db = DocBin(store_user_data=False)
        n = 0
        texts = (f.read_text(encoding="utf-8", errors="replace") for f in part)
        for f, doc in zip(part, nlp.pipe(texts)):
            if f.stem in hand:
                hand_label(doc, hand[f.stem])
            for d in section_docs(doc):
                db.add(d)
                n += 1
        db.to_disk(out_dir / f"{split}.spacy")
        counts[split] = n
    return counts


def train_ner(out_dir: Path, corpus_dir: Optional[Path], config: Path,
              overrides: Optional[dict] = None) -> Path:
    """spaCy's training loop on ``config``; returns the pipeline of its last step. Not
    model-best: the dev corpus is the silver letters (the rules' output) or a training letter
    (`dev_train_letters`), and ranking checkpoints by micro F1 on it favoured early ones that
    had not learnt the rare DIAGNOSIS label yet (docs/EXPERIMENTS.md)."""
    from spacy.cli.train import train

    corpus_dir = default_corpus_dir() if corpus_dir is None else corpus_dir
    ov = {"paths.train": str(corpus_dir / "train.spacy"), "paths.dev": str(corpus_dir / "dev.spacy")}
    ov.update(overrides or {})
    train(config, out_dir, overrides=ov)
    return out_dir / "model-last"


def fast_config() -> Path:
    """The fast tagger's pipeline-and-training config (configs/tagger_fast.cfg)."""
    return project.configs_dir() / "tagger_fast.cfg"


def text_docs(vocab_nlp, items: list[dict]) -> list[Doc]:
    """One doc per annotated free text ({text, spans}), its hand spans as entities (snapped
    to tokens; spans that would start or end on whitespace, or overlap, are dropped)."""
    out = []
    for it in items:
        doc = hand_label(vocab_nlp.make_doc(it["text"]), it["spans"])
        doc.ents = [e for e in doc.ents if not (e[0].is_space or e[-1].is_space)]
        out.append(doc)
    return out


def add_texts(corpus_dir: Path, items: list[dict], repeat: int = 1) -> int:
    """Append the annotated free texts ``items`` to ``corpus_dir/train.spacy``, each
    ``repeat`` times; returns the number of docs added."""
    path = Path(corpus_dir) / "train.spacy"
    db = DocBin(store_user_data=False).from_disk(path) if path.exists() else DocBin(store_user_data=False)
    docs = text_docs(spacy.blank("en"), items)
    for _ in range(repeat):
        for d in docs:
            db.add(d)
    db.to_disk(path)
    return len(docs) * repeat


def train_fast_tagger(model_dir: Optional[Path] = None, corpus_dir: Optional[Path] = None,
                      overrides: Optional[dict] = None, files: Optional[list[Path]] = None,
                      holdout: Optional[set[str]] = None, texts: Optional[list[dict]] = None,
                      config: Optional[Path] = None) -> dict:
    """The fast tagger, end to end: the letters' corpus (`make_corpus`; ``holdout``: dev letters
    kept out), the hand-labelled health-plan texts (default: the ``train`` and ``dev`` splits,
    never ``test``; ``dev`` chose the configuration, docs/EXPERIMENTS.md) added ``[imr]
    texts_repeat`` times, spaCy's training of the whole pipeline
    (``config``, default configs/tagger_fast.cfg), its last step saved to ``model_dir``."""
    from spacy.util import load_config

    t0 = time.time()
    model_dir = Path(default_model() if model_dir is None else model_dir)
    corpus_dir = default_corpus_dir() if corpus_dir is None else corpus_dir
    config = fast_config() if config is None else config
    files = training_files() if files is None else files
    counts = make_corpus(files, corpus_dir, holdout=holdout or set())
    texts = load_texts("train") + load_texts("dev") if texts is None else texts
    counts["texts"] = add_texts(corpus_dir, texts, int(load_config(config)["imr"]["texts_repeat"]))
    last = train_ner(corpus_dir / "fast-training", corpus_dir, config=config, overrides=overrides)
    shutil.copytree(last, model_dir, dirs_exist_ok=True)
    return {"letters": len(files), "docs": counts, "model": str(model_dir),
            "seconds": round(time.time() - t0, 1)}
