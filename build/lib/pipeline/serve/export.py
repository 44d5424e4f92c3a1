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
- ``imr-export.json``: what `pipeline.serve.onnx.OnnxScorer` (and so ``imr predict --model
  DIR``) reads.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ModelError
from .onnx import EXPORT_MANIFEST
from .scorers import classifier_dir, resolve

WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin"}


def local_model_dir(model: str) -> Path:
    """MODEL (name in models/, path, MLflow URI) as a local folder holding the classifier."""
    where = resolve(model)
    if Path(where).exists():
        return Path(where)
    import mlflow

    from .. import store

    store.connect()
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=where))


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
    from .. import classify
    from ..classify.base import load_meta

    if quantize not in (None, "int8"):
        raise ModelError(f"--quantize supports int8 only, not {quantize!r}")
    out = Path(out)
    src = local_model_dir(model)
    cdir = classifier_dir(src)
    if cdir is None:
        raise ModelError(f"{model!r} holds no classifier folder (meta.json)")
    meta = load_meta(cdir)
    if meta.get("kind") != "transformer":
        raise ModelError(f"only the transformer classifier exports to ONNX; {model!r} is "
                         f"{meta.get('kind')!r}")
    clf = classify.load(cdir)
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


