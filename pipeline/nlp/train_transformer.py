"""Train the accurate tagger (``pipeline_accurate.cfg``): the ``imr_transformer_ner`` head on
the hand-labelled development letters (data/dev) and the health-plan ``train`` and ``dev``
texts, end to end from raw text to a saved pipeline that `pipeline.nlp.build.load_tagger` loads.

The encoder is frozen, so its word features are computed once per text (optionally cached on
disk, keyed by text and encoder settings) and each of the component's ``n_heads`` heads is
trained on them for ``epochs`` passes, from its own seed. The gold letters (data/gold) and
the health-plan ``test`` texts are never used here.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Optional

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import load_config, load_model_from_config, minibatch
from tqdm import tqdm

from .. import project
from .gold import dev_dir, dev_spans, letter_text, load_gold, load_texts
from .transformer_ner import TAG_LABELS, extra_features, make_head, tagged_words

ACCURATE_CONFIG = project.package_file("nlp", "pipeline_accurate.cfg")
COMPONENT = "imr_transformer_ner"


def default_accurate_model() -> Path:
    return project.models_dir() / "tagger-accurate"


def build_accurate(config: str | Path = ACCURATE_CONFIG, overrides: Optional[dict] = None) -> Language:
    """The accurate pipeline from its config (with spaCy-style ``overrides``, e.g.
    ``{"components.imr_transformer_ner.encoder": ...}``), untrained (its transformer component passes)."""
    cfg = load_config(config, overrides=overrides or {}, interpolate=False)
    nlp = load_model_from_config(cfg, auto_fill=True, validate=True)
    nlp.initialize()
    return nlp


def word_tags(doc: Doc, idx: list[int], spans: list[dict]) -> np.ndarray:
    """BIO tag ids (0 = O, 1 + 2l = B, 2 + 2l = I of TAG_LABELS[l]) of the words ``idx``;
    a span whose edges are not token edges is left out."""
    pos = {i: k for k, i in enumerate(idx)}
    y = np.zeros(len(idx), np.int64)
    for s in spans:
        sp = doc.char_span(s["start"], s["end"])
        if sp is None or s["label"] not in TAG_LABELS:
            continue
        ks = [pos[t.i] for t in sp if t.i in pos]
        if ks:
            lab = TAG_LABELS.index(s["label"])
            y[ks[0]] = 1 + 2 * lab
            y[ks[1:]] = 2 + 2 * lab
    return y


def valid_bio(y: np.ndarray) -> np.ndarray:
    """``y`` with each I-x that follows neither B-x nor I-x (a piece cut inside an entity,
    overlapping spans) made a B-x, so that every gold path is one the CRF allows."""
    y = y.copy()
    for k in range(len(y)):
        if y[k] and y[k] % 2 == 0 and (k == 0 or y[k - 1] not in (y[k] - 1, y[k])):
            y[k] -= 1
    return y


def training_items(holdout_parts: tuple[int, ...] = (),
                   text_splits: tuple[str, ...] = ("train", "dev")) -> list[tuple[str, list[dict]]]:
    """(text, spans) of the dev letters outside ``holdout_parts`` (annotations_part<N>.jsonl)
    and the health-plan texts of ``text_splits`` (never ``test``)."""
    if "test" in text_splits:
        raise ValueError("the health-plan test texts are scored only, never trained on")
    keep = {c for f in sorted(dev_dir().glob("annotations_part*.jsonl"))
            if int(f.stem.removeprefix("annotations_part")) not in holdout_parts
            for c in load_gold([f])}
    letters = [(letter_text(c), s) for c, s in sorted(dev_spans().items()) if c in keep]
    return letters + [(t["text"], t["spans"]) for split in text_splits for t in load_texts(split)]


def feature_key(comp, text: str) -> str:
    """The cache file name of ``text``'s features: a hash of the text and the encoder settings."""
    key = f"{comp.encoder_name}|{list(comp.layers)}|{comp.max_length}|{comp.stride}|{text}"
    return hashlib.sha1(key.encode()).hexdigest() + ".npy"


def cached_features(comp, docs: list[Doc], cache_dir: Optional[Path]) -> list[np.ndarray]:
    """``comp.features`` of ``docs``, reusing ``cache_dir/<feature_key>`` where present (and of
    the doc's `tagged_words` length) and writing the ones computed."""
    out: list = [None] * len(docs)
    names = [feature_key(comp, d.text) for d in docs]
    todo = []
    for k, (doc, name) in enumerate(zip(docs, names)):
        if cache_dir is not None and (cache_dir / name).exists():
            f = np.load(cache_dir / name)
            if len(f) == len(tagged_words(doc)):
                out[k] = f
                continue
        todo.append(k)
    with tqdm(total=len(todo), desc="encoding", unit="text", disable=not todo) as bar:
        for part in minibatch(todo, 16):
            for k, f in zip(part, comp.features([docs[k] for k in part])):
                out[k] = f
                if cache_dir is not None:
                    cache_dir.mkdir(parents=True, exist_ok=True)
                    np.save(cache_dir / names[k], f)
            bar.update(len(part))
    return out


def fit_head(comp, feats: list[np.ndarray], extras: list[np.ndarray], tags: list[np.ndarray],
             epochs: int = 40, lr: float = 2e-3, chunk: int = 200, batch: int = 16, seed: int = 0,
             desc: str = "head"):
    """Train a new head for ``comp`` (CRF loss, Adam with a one-cycle schedule) on word
    sequences cut into ``chunk``-word pieces; returns it (in eval mode) and each epoch's mean loss
    per word."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pieces = [(f[a:a + chunk], x[a:a + chunk], valid_bio(y[a:a + chunk]))
              for f, x, y in zip(feats, extras, tags) for a in range(0, len(y), chunk) if len(y)]
    head = make_head(feats[0].shape[1], comp.dims["proj"], comp.dims["hidden"], comp.dims["dropout"])
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    steps = epochs * ((len(pieces) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    head.train()
    losses = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch")
    for _ in bar:
        order, total = rng.permutation(len(pieces)), 0.0
        for s in range(0, len(order), batch):
            bb = [pieces[i] for i in order[s:s + batch]]
            n = max(len(p[2]) for p in bb)

            def pad(a):
                return torch.from_numpy(np.concatenate([a, np.zeros((n - len(a),) + a.shape[1:], a.dtype)]))
            f, x, y = (torch.stack([pad(p[j]) for p in bb]) for j in range(3))
            lens = torch.tensor([len(p[2]) for p in bb])
            loss = head.nll(head(f, x), y, lens).sum() / lens.sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item() * lens.sum().item()
        losses.append(total / sum(len(p[2]) for p in pieces))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return head.eval(), losses


def train_transformer(model_dir: Optional[str | Path] = None, holdout_parts: tuple[int, ...] = (),
                      text_splits: tuple[str, ...] = ("train", "dev"), config: str | Path = ACCURATE_CONFIG,
                      overrides: Optional[dict] = None, epochs: int = 40, lr: float = 2e-3, seed: int = 0,
                      cache_dir: Optional[str | Path] = None,
                      items: Optional[list[tuple[str, list[dict]]]] = None) -> dict:
    """Train the accurate tagger and save it to ``model_dir`` (default models/tagger-accurate).

    Trains on the dev letters less ``holdout_parts`` and the health-plan texts of
    ``text_splits`` (or on ``items``: (text, spans) pairs). ``cache_dir``: where encoder
    features are kept between runs (`feature_key`). Head k is trained from seed ``seed + k``.
    Returns counts, timings and each head's epoch losses."""
    t0 = time.time()
    model_dir = Path(model_dir) if model_dir else default_accurate_model()
    nlp = build_accurate(config, overrides)
    comp = nlp.get_pipe(COMPONENT)
    comp.load_encoder()
    items = training_items(tuple(holdout_parts), tuple(text_splits)) if items is None else items
    before = nlp.pipe_names[:nlp.pipe_names.index(COMPONENT)]
    with nlp.select_pipes(enable=[p for p in before if p != "imr_entity_rules"]):
        docs = list(nlp.pipe(text for text, _ in items))
    feats = cached_features(comp, docs, Path(cache_dir) if cache_dir else None)
    t_feat = time.time() - t0
    idxs = [tagged_words(d) for d in docs]
    extras = [extra_features(d, i) for d, i in zip(docs, idxs)]
    tags = [word_tags(d, i, s) for d, i, (_, s) in zip(docs, idxs, items)]
    fitted = [fit_head(comp, feats, extras, tags, epochs=epochs, lr=lr, seed=seed + k,
                       desc=f"head {k + 1}/{comp.n_heads}") for k in range(comp.n_heads)]
    comp.set_heads([head for head, _ in fitted])
    model_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(model_dir)
    return {"texts": len(items), "words": sum(map(len, idxs)), "model": str(model_dir),
            "feature_seconds": round(t_feat, 1), "seconds": round(time.time() - t0, 1),
            "losses": [[round(v, 4) for v in losses] for _, losses in fitted]}
