"""The MLflow ``pyfunc`` wrapper: any saved classifier behind one DataFrame interface.

Input columns: ``text`` (required); ``id``, ``specialty``, ``item``, ``guideline`` (the claims
administrator's line), ``treatment_category`` and ``body_regions`` (regions joined by ``; ``)
optional: the item row's facets that the structured model reads (`FACETS`). Output columns:
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
FACETS = ("specialty", "item", "guideline", "treatment_category", "body_regions")
REGION_SEP = "; "


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def frame_row(e) -> dict[str, Any]:
    """One `Example` as a row of the model's input frame (the inverse of the frame's reading)."""
    return {"id": e.id, "text": e.text, "specialty": e.specialty, "item": e.item, "guideline": e.guideline,
            "treatment_category": e.treatment_category, "body_regions": REGION_SEP.join(e.body_regions or [])}


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
        regions = _str(row.get("body_regions"))
        out.append(Example(id=rid, group=rid, domain=domain, setting=setting, text=text,
                           specialty=_str(row.get("specialty")), item=_str(row.get("item")),
                           guideline=_str(row.get("guideline")),
                           treatment_category=_str(row.get("treatment_category")),
                           body_regions=regions.split(REGION_SEP) if regions else []))
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
        inputs=Schema([ColSpec("string", "id", required=False), ColSpec("string", "text")]
                      + [ColSpec("string", f, required=False) for f in FACETS]),
        outputs=Schema([ColSpec("string", "id"), ColSpec("string", "prediction"),
                        ColSpec("double", "p_overturned"), ColSpec("string", "setting")]))
