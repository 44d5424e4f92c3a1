"""ONNX Runtime scoring of an ``imr export`` folder: the same encoding and calibration as the
PyTorch classifier, int8 when the export has it."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ModelError

EXPORT_MANIFEST = "imr-export.json"  # the file that makes a folder an `imr export`


def _session_options(threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or int(os.environ.get("IMR_THREADS", "0") or 0) or min(2, os.cpu_count() or 1)
    so.inter_op_num_threads = 1
    # Busy-waiting between ops, like PyTorch's OpenMP threads, unless OMP_WAIT_POLICY=PASSIVE
    # (the knob that also stops PyTorch's spinning): spinning is ~1.15x faster on an idle
    # machine and ~1.4x slower on a shared, loaded one, for either runtime.
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


class OnnxScorer:
    """An ``imr export`` folder as a `pipeline.serve.scorers.Scorer`: same encoding (head+tail
    truncation, length-sorted dynamic padding) and calibration as the PyTorch classifier."""

    def __init__(self, path: str | Path, precision: str | None = None, threads: int | None = None,
                 batch_size: int | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        from ..classify.base import Calibrator, load_meta
        from ..classify.transformer import TransformerClassifier

        self.path = Path(path)
        self.manifest = json.loads((self.path / EXPORT_MANIFEST).read_text())
        self.precision = precision or self.manifest["default"]
        if self.precision not in self.manifest["files"]:
            raise ModelError(f"{path} has no {self.precision} model (has {', '.join(self.manifest['files'])})")
        meta = load_meta(self.path / "classifier")
        self.encoder = TransformerClassifier(**meta.get("params", {}))
        self.encoder.tokenizer = AutoTokenizer.from_pretrained(self.path / "classifier" / "hf")
        self.calibrator = Calibrator.from_dict(meta.get("calibrator"))
        self.setting = self.manifest.get("setting") or meta.get("info", {}).get("setting") or "prior"
        self.name = f"{self.manifest.get('name')}:onnx-{self.precision}"
        self.threshold = float(self.calibrator.threshold)
        self.batch_size = batch_size or self.encoder.data_args.eval_batch_size
        self.session = ort.InferenceSession(str(self.path / self.manifest["files"][self.precision]),
                                            _session_options(threads), providers=["CPUExecutionProvider"])

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        from ..classify.transformer import padded_batches

        ids = self.encoder.encode(texts)
        out = np.zeros((len(ids), 2), dtype=np.float32)
        for idx, x, m in padded_batches(ids, self.batch_size, self.encoder.tokenizer.pad_token_id):
            out[idx] = self.session.run(["logits"], {"input_ids": x, "attention_mask": m})[0]
        return out

    def raw_proba(self, texts: Sequence[str]) -> np.ndarray:
        from ..classify.transformer import p_second_class

        return p_second_class(self.logits(texts)) if len(texts) else np.zeros(0)

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        texts = [e if isinstance(e, str) else e.text for e in examples]
        return self.calibrator.transform(self.raw_proba(texts))
