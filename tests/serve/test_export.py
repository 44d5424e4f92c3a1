"""`imr export` (pipeline/serve/export.py): ONNX Runtime gives the PyTorch classifier's
predictions, and `imr predict --model <export dir>` serves it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ..conftest import LETTERS_TXT

pytestmark = pytest.mark.slow  # trains and exports a transformer


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    from pipeline.serve.export import export

    return export(str(tiny_model), tmp_path_factory.mktemp("onnx") / "tiny-onnx", quantize="int8")


@pytest.fixture(scope="module")
def examples():
    from pipeline.classify.examples import letter_examples
    from pipeline.io.sources import read_records

    return letter_examples(read_records(sorted(LETTERS_TXT.glob("*.txt"))[:12]), "prior")


def test_export_folder(exported):
    manifest = json.loads((exported / "imr-export.json").read_text())
    assert manifest["files"] == {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    assert manifest["default"] == "int8" and manifest["setting"] == "prior"
    assert (exported / "classifier" / "meta.json").exists()
    assert not (exported / "classifier" / "hf" / "model.safetensors").exists()  # ONNX holds the weights


def test_export_recipe(exported):
    """fp32: attention fused by ONNX Runtime's optimizer (eager-attention trace); int8: the
    encoder's weights quantized (QAttention, MatMulInteger), the pooler + head kept fp32."""
    import onnx

    g32 = onnx.load(str(exported / "model.onnx")).graph.node
    g8 = onnx.load(str(exported / "model.int8.onnx")).graph.node
    ops32, ops8 = [n.op_type for n in g32], [n.op_type for n in g8]
    assert "Attention" in ops32 and "Softmax" not in ops32
    assert "QAttention" in ops8 and "MatMulInteger" in ops8 and "Attention" not in ops8
    head = [n.name for n in g32 if n.op_type == "Gemm"]  # pooler dense + classifier
    assert head and all(n.op_type in ("Gemm", "MatMul", "Add") for n in g8
                        if any(n.name.startswith(h) for h in head))


def test_onnx_fp32_matches_pytorch(exported, tiny_scorer, examples):
    from pipeline.serve.onnx import OnnxScorer

    torch_p = tiny_scorer.predict_proba(examples)
    onnx_p = OnnxScorer(exported, precision="fp32").predict_proba(examples)
    assert len(examples) >= 20 and np.ptp(torch_p) > 1e-3  # scores differ between items
    assert np.abs(torch_p - onnx_p).max() < 1e-5
    assert ((torch_p >= 0.5) == (onnx_p >= 0.5)).all()


def test_onnx_int8_stays_close(exported, tiny_scorer, examples):
    from pipeline.serve.scorers import load_scorer

    sc = load_scorer(str(exported))  # the export folder as MODEL: int8 by default
    assert sc.name.endswith("onnx-int8") and sc.setting == "prior"
    torch_p = tiny_scorer.predict_proba(examples)
    q = sc.predict_proba(examples)
    # close to PyTorch (an untrained model's scores barely differ between items, so agreement
    # on a trained model is measured by benchmarks/bench_inference.py)
    assert np.abs(torch_p - q).max() < 0.05
    assert ((torch_p >= 0.5) == (q >= 0.5)).mean() >= 0.9


def test_predict_serves_the_export(exported, tmp_path):
    from pipeline.serve.batch import predict, read_predictions
    from pipeline.serve.scorers import load_scorer

    s = predict([LETTERS_TXT / "CM16-0230651.txt"], load_scorer(str(exported)), tmp_path / "o.parquet",
                quiet=True)
    rows = read_predictions(tmp_path / "o.parquet")
    assert s.rows_out == len(rows) >= 1 and rows[0]["model"].endswith("onnx-int8")
