"""``imr export MODEL --onnx [--quantize int8]``: the transformer classifier as ONNX, served
by ONNX Runtime.

The export folder holds:

- ``model.onnx``: the fine-tuned sequence classifier (inputs ``input_ids`` and
  ``attention_mask``, dynamic batch and length; output ``logits``), traced with eager
  attention (the SDPA trace's mask subgraph defeats attention fusion) and graph-optimized by
  ONNX Runtime's transformer optimizer (fused Attention, embedding + layer norm, GELU, skip
  layer norm);
- ``model.int8.onnx`` with ``--quantize int8``: dynamic int8 quantization
  (``onnxruntime.quantization.quantize_dynamic``) of the encoder's weights (fused attention
  -> QAttention, the dense layers -> MatMulInteger); the pooler and classification head
  (``Gemm``), embeddings and layer norms stay fp32;
- ``classifier/``: the classifier's ``meta.json`` (head+tail truncation, calibrator,
  threshold, setting) and its tokenizer, so that inputs are encoded exactly as in training;
- ``imr-export.json``: what `OnnxScorer` (and so ``imr predict --model DIR``) reads.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .models import EXPORT_MANIFEST, classifier_dir, resolve

WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin"}


def local_model_dir(model: str) -> Path:
    """MODEL (name in models/, path, MLflow URI) as a local folder holding the classifier."""
    where = resolve(model)
    if Path(where).exists():
        return Path(where)
    import mlflow

    from .registry import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=where))


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


def export_onnx(torch_model, path: Path, opset: int = 17) -> None:
    """torch -> ONNX with dynamic batch and sequence axes."""
    import torch

    torch_model.eval()
    # Trace eager attention: the SDPA trace (transformers' default) wraps the mask in
    # Where/IsNaN nodes that ONNX Runtime's optimizer cannot fuse into its Attention op.
    # Same math; the model's own setting is restored afterwards.
    restore = []
    for mod in torch_model.modules():
        cfg = getattr(mod, "config", None)
        if hasattr(mod, "set_attn_implementation") and getattr(cfg, "_attn_implementation", None) != "eager":
            restore.append((mod, cfg._attn_implementation))
    for mod, _ in restore:
        try:
            mod.set_attn_implementation("eager")
        except Exception:  # an encoder without eager attention exports as it is
            pass
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)

    class Logits(torch.nn.Module):  # a plain tensor out, not a ModelOutput
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).logits

    try:
        with torch.no_grad():
            torch.onnx.export(Logits(torch_model), (ids, mask), str(path), dynamo=False,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "attention_mask": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch"}},
                              opset_version=opset, do_constant_folding=True)
    finally:
        for mod, impl in reversed(restore):
            try:
                mod.set_attn_implementation(impl)
            except Exception:
                pass


def optimize(path: Path, config) -> bool:
    """Fuse attention/GELU/layer norm in place (ONNX Runtime's BERT optimizer)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(path), model_type="bert", num_heads=int(config.num_attention_heads),
                             hidden_size=int(config.hidden_size), opt_level=1)
        tmp = path.with_name(path.name + ".opt.tmp")
        opt.save_model_to_file(str(tmp))
        os.replace(tmp, path)
        return True
    except Exception:  # an unfused graph is still correct, only slower
        return False


def quantize_int8(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Weights of the encoder's matrix products only (one scale per tensor: per-channel
    # scales were ~1.6x slower here): embeddings and layer norms stay fp32, and so do the
    # pooler and classification head (the Gemm nodes; a negligible share of the time).
    # Fused ops (com.microsoft domain) defeat ONNX shape inference: their outputs are float.
    # (quantize_dynamic rewrites each Gemm as MatMul + Add first: the MatMul is NAME_MatMul)
    head = [x for n in onnx.load(str(src), load_external_data=False).graph.node if n.op_type == "Gemm"
            for x in (n.name, f"{n.name}_MatMul")]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=head,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export(model: str, out: str | Path, quantize: str | None = None, opset: int = 17) -> Path:
    """Export MODEL's transformer classifier to ``out`` (see the module doc); returns ``out``."""
    from . import classifiers
    from .classifiers.base import load_meta

    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize supports int8 only, not {quantize!r}")
    out = Path(out)
    src = local_model_dir(model)
    cdir = classifier_dir(src)
    if cdir is None:
        raise ValueError(f"{model!r} holds no classifier folder (meta.json)")
    meta = load_meta(cdir)
    if meta.get("kind") != "transformer":
        raise ValueError(f"only the transformer classifier exports to ONNX; {model!r} is "
                         f"{meta.get('kind')!r}")
    clf = classifiers.load(cdir)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent if out.parent.exists() else None))
    try:
        (tmp / "classifier" / "hf").mkdir(parents=True)
        shutil.copy2(cdir / "meta.json", tmp / "classifier" / "meta.json")
        for f in (cdir / "hf").iterdir():
            if f.is_file() and f.name not in WEIGHT_FILES:
                shutil.copy2(f, tmp / "classifier" / "hf" / f.name)
        export_onnx(clf.model, tmp / "model.onnx", opset)
        fused = optimize(tmp / "model.onnx", clf.model.config)
        files = {"fp32": "model.onnx"}
        if quantize == "int8":
            quantize_int8(tmp / "model.onnx", tmp / "model.int8.onnx")
            files["int8"] = "model.int8.onnx"
        info = meta.get("info", {})
        manifest = {"format": "onnx", "files": files, "default": "int8" if quantize else "fp32",
                    "source": str(model), "setting": info.get("setting"),
                    "name": info.get("name") or Path(str(model)).name,
                    "threshold": float(clf.calibrator.threshold), "opset": opset, "fused": fused}
        (tmp / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class OnnxScorer:
    """An ``imr export`` folder as a `pipeline.models.Scorer`: same encoding (head+tail
    truncation, length-sorted dynamic padding) and calibration as the PyTorch classifier."""

    def __init__(self, path: str | Path, precision: str | None = None, threads: int | None = None,
                 batch_size: int | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        from .classifiers.base import Calibrator, load_meta
        from .classifiers.transformer import TransformerClassifier

        self.path = Path(path)
        self.manifest = json.loads((self.path / EXPORT_MANIFEST).read_text())
        self.precision = precision or self.manifest["default"]
        if self.precision not in self.manifest["files"]:
            raise ValueError(f"{path} has no {self.precision} model (has {', '.join(self.manifest['files'])})")
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
        from .classifiers.transformer import padded_batches

        ids = self.encoder.encode(texts)
        out = np.zeros((len(ids), 2), dtype=np.float32)
        for idx, x, m in padded_batches(ids, self.batch_size, self.encoder.tokenizer.pad_token_id):
            out[idx] = self.session.run(["logits"], {"input_ids": x, "attention_mask": m})[0]
        return out

    def raw_proba(self, texts: Sequence[str]) -> np.ndarray:
        from .classifiers.transformer import p_second_class

        return p_second_class(self.logits(texts)) if len(texts) else np.zeros(0)

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        texts = [e if isinstance(e, str) else e.text for e in examples]
        return self.calibrator.transform(self.raw_proba(texts))
