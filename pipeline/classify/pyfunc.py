"""The MLflow ``pyfunc`` wrapper: any saved classifier behind one DataFrame interface.

Input columns: ``text`` (required), ``id`` and ``specialty`` (optional). Output columns:
``id``, ``prediction`` (Upheld / Overturned), ``p_overturned`` (calibrated), ``setting``.
Self-contained: the classifier (HF weights included, loaded with ``from_pretrained`` on a
local path) is an artifact of the MLflow model and the ``pipeline`` package travels in its
``code/`` folder, so ``mlflow.pyfunc.load_model`` / ``spark_udf`` need nothing else.
"""
from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

ARTIFACT = "classifier"


def input_frame_to_examples(df: pd.DataFrame, setting: str, domain: str) -> list:
    """DataFrame rows to Examples. Prior-setting texts are masked and pass the leakage guard."""
    from .examples import Example, assert_no_leak, mask_verdicts

    if "text" not in df.columns:
        raise ValueError("the input needs a 'text' column")
    out = []
    for n, row in enumerate(df.to_dict("records")):
        text = str(row.get("text") or "")
        if setting == "prior":
            text = assert_no_leak(mask_verdicts(text))
        rid = row.get("id")
        rid = str(n) if rid is None or (isinstance(rid, float) and rid != rid) else str(rid)
        spec = row.get("specialty")
        out.append(Example(id=rid, group=rid, domain=domain, setting=setting, text=text,
                           specialty=spec if isinstance(spec, str) else None))
    return out


class ImrPyfuncModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from . import load

        self.classifier = load(context.artifacts[ARTIFACT])
        info = self.classifier.info
        self.setting = info.get("setting", "prior")
        self.domain = info.get("domain", "dwc")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        examples = input_frame_to_examples(model_input, self.setting, self.domain)
        p = self.classifier.predict_proba(examples) if examples else []
        t = self.classifier.calibrator.threshold
        return pd.DataFrame({"id": [e.id for e in examples],
                             "prediction": ["Overturned" if q >= t else "Upheld" for q in p],
                             "p_overturned": [float(q) for q in p],
                             "setting": [self.setting] * len(examples)})


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "id", required=False), ColSpec("string", "text"),
                       ColSpec("string", "specialty", required=False)]),
        outputs=Schema([ColSpec("string", "id"), ColSpec("string", "prediction"),
                        ColSpec("double", "p_overturned"), ColSpec("string", "setting")]))
