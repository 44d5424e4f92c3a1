"""``imr_transformer_ner``: DIAGNOSIS / TREATMENT spans from a frozen transformer encoder and a
small trained head (the accurate tagger, ``pipeline_accurate.cfg``).

Why this design (measurements: docs/EXPERIMENTS.md, tagger):
- The encoder (all-mpnet-base-v2 by default) stays frozen: fine-tuning it does not fit these
  CPUs, and a fine-tuned MiniLM token classifier broke entities apart. Each word (a non-space
  spaCy token) is represented by the mean of some encoder layers at its first subword, read
  from overlapping subword windows (the window where the word is most central).
- A word-level head (projection + casing/line-break/sentence features, a BiLSTM over the
  whole text, a linear-chain CRF whose transitions forbid invalid BIO sequences) finds the
  spans; Viterbi decoding keeps entities whole.
- ``n_heads`` heads, trained alike from different seeds, are one model: decoding uses the mean
  of their emission and transition scores. ``outside_bias`` is added to the O tag's emission
  score before decoding: above 0 it trades recall for precision (the heads over-predict).
- The head is trained on all three labels (it learns that guideline names are not
  treatments) but writes only ``labels`` (DIAGNOSIS, TREATMENT); entities already on the doc
  with ``keep_labels`` (the rules' GUIDELINE) stay, and model spans overlapping them are dropped.
- A letter's header (``imr_sections``) is not tagged: the guideline does not annotate it.

Saved with the pipeline: ``encoder/`` (``save_pretrained``, loaded back by
``from_pretrained``) and ``head.pt`` (a list of the heads' state dicts) + ``head.json``.
Untrained, the component changes nothing.
Trained by `pipeline.nlp.train_transformer`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from .tag import has_header

TAG_LABELS = ("DIAGNOSIS", "TREATMENT", "GUIDELINE")  # BIO over these: O, B-x, I-x, ...
N_EXTRA = 6


def bio_allowed(n_tags: int) -> np.ndarray:
    """(from, to) transitions a BIO sequence may take; I-x only after B-x or I-x."""
    ok = np.ones((n_tags, n_tags), bool)
    for j in range(2, n_tags, 2):
        ok[:, j] = False
        ok[j - 1, j] = ok[j, j] = True
    return ok


def viterbi(emissions: np.ndarray, trans: np.ndarray, start: np.ndarray) -> list[int]:
    """Best tag path under ``trans`` [K, K] and ``start`` [K] scores (invalid ones at -1e4)."""
    score, back = start + emissions[0], []
    for t in range(1, len(emissions)):
        cand = score[:, None] + trans
        back.append(cand.argmax(0))
        score = cand.max(0) + emissions[t]
    path = [int(score.argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1]


def tagged_words(doc: Doc) -> list[int]:
    """Indices of the tokens the model tags: non-space, outside a letter's header."""
    header = has_header(doc)
    return [t.i for t in doc if not t.is_space and not (header and t._.section == "header")]


def extra_features(doc: Doc, idx: list[int]) -> np.ndarray:
    """Per word: all capitals, capitalized, has a digit, punctuation, after a line break,
    sentence start (the uncased encoder does not see case or layout)."""
    out = np.zeros((len(idx), N_EXTRA), np.float32)
    for k, i in enumerate(idx):
        w = doc[i].text
        prev = doc[i - 1] if i > 0 else None
        out[k] = [w.isupper(), w[:1].isupper(), any(c.isdigit() for c in w), not w[:1].isalnum(),
                  bool(prev is not None and prev.is_space and "\n" in prev.text), bool(doc[i].is_sent_start)]
    return out


def windows(word_ids: list[int], n_words: int, max_len: int, stride: int):
    """Subword windows [a, b) (at most ``max_len - 2`` long, cut at word starts, ``stride``
    apart) and, per word, (window, position of its first subword) in its most central window."""
    n, body = len(word_ids), max_len - 2
    first: dict[int, int] = {}
    for p, w in enumerate(word_ids):
        first.setdefault(w, p)
    wins, a = [], 0
    while n:
        b = min(n, a + body)
        while b < n and b > a + 1 and word_ids[b] == word_ids[b - 1]:
            b -= 1
        wins.append((a, b))
        if b >= n:
            break
        na = a + stride
        while a < na < n and word_ids[na] == word_ids[na - 1]:
            na -= 1
        a = min(max(na, a + 1), b)
    owner: list = [None] * n_words
    best = [-1] * n_words
    for k, (a, b) in enumerate(wins):
        for w in set(word_ids[a:b]):
            p = first[w]
            if a <= p < b and min(p - a, b - 1 - p) > best[w]:
                best[w], owner[w] = min(p - a, b - 1 - p), (k, p)
    return wins, owner


def make_head(n_in: int, proj: int, hidden: int, dropout: float, n_tags: int = 1 + 2 * len(TAG_LABELS)):
    """The trainable head (torch imported here: spaCy loads this module without it)."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.proj = nn.Linear(n_in, proj)
            self.lstm = nn.LSTM(proj + N_EXTRA, hidden, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * hidden, n_tags)
            self.trans = nn.Parameter(torch.zeros(n_tags, n_tags))
            self.start = nn.Parameter(torch.zeros(n_tags))
            ok = torch.from_numpy(bio_allowed(n_tags))
            self.register_buffer("trans_mask", torch.where(ok, 0.0, -1e4))
            self.register_buffer("start_mask", torch.tensor([0.0 if j == 0 or j % 2 else -1e4 for j in range(n_tags)]))

        def forward(self, f, x):  # [B, T, n_in], [B, T, N_EXTRA] -> emissions [B, T, n_tags]
            h = torch.cat([torch.relu(self.proj(self.drop(f))), x], -1)
            h, _ = self.lstm(self.drop(h))
            return self.out(self.drop(h))

        def scores(self):
            return self.trans + self.trans_mask, self.start + self.start_mask

        def nll(self, em, y, lens):
            """CRF negative log-likelihood per sequence (padded batch)."""
            trans, start = self.scores()
            m = (torch.arange(em.shape[1])[None] < lens[:, None]).float()
            gold = start[y[:, 0]] + (em.gather(2, y[:, :, None]).squeeze(2) * m).sum(1) \
                + (trans[y[:, :-1], y[:, 1:]] * m[:, 1:]).sum(1)
            alpha = start[None] + em[:, 0]
            for t in range(1, em.shape[1]):
                new = torch.logsumexp(alpha[:, :, None] + trans[None], 1) + em[:, t]
                alpha = torch.where(m[:, t:t + 1] > 0, new, alpha)
            return torch.logsumexp(alpha, 1) - gold

    return Head()


@Language.factory("imr_transformer_ner", default_config={
    "encoder": "all-mpnet-base-v2", "layers": [4, 6, 8, 10, 12], "max_length": 256, "stride": 192,
    "batch_size": 16, "labels": ["DIAGNOSIS", "TREATMENT"], "keep_labels": ["GUIDELINE"],
    "proj": 256, "hidden": 256, "dropout": 0.3, "n_heads": 1, "outside_bias": 0.0})
class TransformerNER:
    """Frozen encoder + BiLSTM-CRF head(s) over words; writes ``labels`` entities to ``doc.ents``."""

    def __init__(self, nlp: Language, name: str, encoder: str, layers: list[int], max_length: int,
                 stride: int, batch_size: int, labels: list[str], keep_labels: list[str],
                 proj: int, hidden: int, dropout: float, n_heads: int, outside_bias: float):
        self.name = name
        self.encoder_name = encoder
        self.layers = list(layers)
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        self.labels, self.keep_labels = set(labels), set(keep_labels)
        self.dims = {"proj": proj, "hidden": hidden, "dropout": dropout}
        self.n_heads, self.outside_bias = n_heads, outside_bias
        self.tokenizer = self.encoder = None
        self.heads: list = []

    # --- encoder -------------------------------------------------------------------------
    def load_encoder(self, folder: Optional[str | Path] = None) -> None:
        """The encoder and tokenizer by ``from_pretrained`` from ``folder`` (default: the
        packaged encoder named in the config, `pipeline.encoders.encoder_path`)."""
        from transformers import AutoModel, AutoTokenizer

        if folder is None:
            from ..encoders import encoder_path
            folder = encoder_path(self.encoder_name)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.encoder = AutoModel.from_pretrained(str(folder)).eval()

    def features(self, docs: list[Doc]) -> list[np.ndarray]:
        """Per doc, [tagged words, hidden] float32: the mean of ``layers`` at the first subword
        of each `tagged_words` word. The encoder reads all non-space words (the header too, as
        context), in windows of all ``docs`` batched together; a word with no subword gets zeros."""
        import torch

        tok, jobs, rows = self.tokenizer, [], []
        for doc in docs:
            words = [t.i for t in doc if not t.is_space]
            pos = {i: k for k, i in enumerate(words)}
            keep = [pos[i] for i in tagged_words(doc)]
            owner: list = []
            if words:
                enc = tok([doc[i].text for i in words], is_split_into_words=True,
                          add_special_tokens=False, verbose=False)
                wins, owner = windows(enc.word_ids(), len(words), self.max_length, self.stride)
                base = len(jobs)
                jobs += [[tok.cls_token_id] + enc["input_ids"][a:b] + [tok.sep_token_id] for a, b in wins]
                owner = [None if o is None else (base + o[0], o[1] - wins[o[0]][0] + 1) for o in owner]
            rows.append([owner[k] for k in keep])
        hidden: list = [None] * len(jobs)
        order = sorted(range(len(jobs)), key=lambda j: len(jobs[j]))  # little padding
        for batch in minibatch(order, self.batch_size):
            n = max(len(jobs[j]) for j in batch)
            x = torch.tensor([jobs[j] + [tok.pad_token_id] * (n - len(jobs[j])) for j in batch])
            m = torch.tensor([[1] * len(jobs[j]) + [0] * (n - len(jobs[j])) for j in batch])
            with torch.inference_mode():
                hs = self.encoder(input_ids=x, attention_mask=m, output_hidden_states=True).hidden_states
                h = torch.stack([hs[i] for i in self.layers]).mean(0).numpy()
            for r, j in enumerate(batch):
                hidden[j] = h[r]
        dim = self.encoder.config.hidden_size
        return [np.stack([hidden[o[0]][o[1]] if o is not None else np.zeros(dim, np.float32) for o in row]
                         ).astype(np.float32) if row else np.zeros((0, dim), np.float32) for row in rows]

    # --- tagging -------------------------------------------------------------------------
    def tag_spans(self, doc: Doc, feats: np.ndarray) -> list[tuple[int, int, str]]:
        """(start token, end token, label) of the Viterbi path over the doc's words under the
        heads' mean scores, ``outside_bias`` added to O."""
        import torch

        idx = tagged_words(doc)
        if not idx:
            return []
        f, x = torch.from_numpy(feats)[None], torch.from_numpy(extra_features(doc, idx))[None]
        with torch.inference_mode():
            em = np.mean([h(f, x)[0].numpy() for h in self.heads], 0)
            scores = [h.scores() for h in self.heads]
            trans, start = (np.mean([sc[j].numpy() for sc in scores], 0) for j in (0, 1))
        em[:, 0] += self.outside_bias
        tags = viterbi(em, trans, start)
        spans: list[list] = []
        for k, t in enumerate(tags):
            lab = TAG_LABELS[(t - 1) // 2] if t else None
            if t and t % 2 == 0 and spans and spans[-1][2] == lab and spans[-1][3] == k - 1:
                spans[-1][1], spans[-1][3] = idx[k] + 1, k
            elif t:
                spans.append([idx[k], idx[k] + 1, lab, k])
        return [(a, b, lab) for a, b, lab, _ in spans]

    def set_ents(self, doc: Doc, spans: Iterable[tuple[int, int, str]]) -> Doc:
        keep = [e for e in doc.ents if e.label_ in self.keep_labels]
        new = [Span(doc, a, b, label=lab) for a, b, lab in spans
               if lab in self.labels and all(b <= e.start or a >= e.end for e in keep)]
        doc.ents = sorted(keep + new, key=lambda s: s.start)
        return doc

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 16):
        for batch in minibatch(docs, batch_size):
            if not self.heads:
                yield from batch
                continue
            for doc, f in zip(batch, self.features(batch)):
                yield self.set_ents(doc, self.tag_spans(doc, f))

    # --- saving --------------------------------------------------------------------------
    def set_heads(self, heads: list) -> None:
        self.heads = [h.eval() for h in heads]

    def to_disk(self, path, exclude=tuple()):
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if not self.heads:
            return
        self.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(path / "encoder")
        torch.save([h.state_dict() for h in self.heads], path / "head.pt")
        (path / "head.json").write_text(json.dumps({"n_in": self.encoder.config.hidden_size, **self.dims,
                                                    "n_heads": len(self.heads), "tags": list(TAG_LABELS)}))

    def from_disk(self, path, exclude=tuple()):
        import torch

        path = Path(path)
        if (path / "head.pt").exists():
            meta = json.loads((path / "head.json").read_text())
            self.load_encoder(path / "encoder")
            states = torch.load(path / "head.pt", weights_only=True)
            heads = []
            for state in [states] if isinstance(states, dict) else states:  # one head: a pipeline saved before n_heads
                head = make_head(meta["n_in"], meta["proj"], meta["hidden"], meta["dropout"])
                head.load_state_dict(state)
                heads.append(head)
            self.set_heads(heads)
        return self
