"""The interface every outcome classifier follows, and the probability calibrator."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .examples import Example

META = "meta.json"


def load_meta(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / META).read_text())


class Calibrator:
    """Platt scaling on the logit of a model's raw P(Overturned), plus a decision threshold.

    Fitted on out-of-fold scores only (never on the scores of the items a model was trained
    on). The threshold maximizes macro-F1 on those scores (0.5 when not tuned)."""

    def __init__(self, a: float = 1.0, b: float = 0.0, threshold: float = 0.5,
                 fitted: bool = False):
        self.a, self.b, self.threshold, self.fitted = float(a), float(b), float(threshold), fitted

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def fit(self, scores: Sequence[float], labels: Sequence[int], tune_threshold: bool = True
            ) -> "Calibrator":
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score

        y = np.asarray(labels, dtype=int)
        z = self._logit(scores).reshape(-1, 1)
        if len(set(y.tolist())) < 2 or np.ptp(z) < 1e-9:
            self.a, self.b = 0.0, float(self._logit([np.clip(y.mean(), 1e-3, 1 - 1e-3)])[0])
        else:
            lr = LogisticRegression(C=100.0).fit(z, y)
            self.a, self.b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        self.threshold = 0.5
        self.fitted = True  # the threshold is tuned on the calibrated scores, as it is applied
        if tune_threshold and len(set(y.tolist())) == 2:
            p = self.transform(scores)
            # every cut between distinct scores, and one above them all (every item Upheld)
            cands = np.append(np.unique(p), np.nextafter(p.max(), np.inf))
            best = (-1.0, 0.5)
            for t in cands:
                f1 = f1_score(y, (p >= t).astype(int), average="macro", zero_division=0)
                # ties: the threshold closest to 0.5
                if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                    best = (f1, float(t))
            self.threshold = best[1]
        return self

    def transform(self, scores: Sequence[float]) -> np.ndarray:
        if not self.fitted:
            return np.asarray(scores, dtype=float)
        z = self.a * self._logit(scores) + self.b
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "threshold": self.threshold, "fitted": self.fitted}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Calibrator":
        return cls(**d) if d else cls()


class Classifier:
    """fit(examples) / predict_proba(examples) -> P(Overturned) / save(dir) / load(dir).

    ``raw_proba`` is the model's own probability; ``predict_proba`` applies the fitted
    calibrator (identity until one is set); ``predict`` thresholds the calibrated value."""

    kind = "base"

    def __init__(self, **params: Any):  # subclasses name their parameters (unknown ones: TypeError)
        self.params = params
        self.calibrator = Calibrator()
        self.info: dict[str, Any] = {}  # domain, setting, name: written to meta.json

    # subclasses implement these four
    def fit(self, examples: Sequence[Example]) -> "Classifier":
        raise NotImplementedError

    def raw_proba(self, examples: Sequence[Example]) -> np.ndarray:
        raise NotImplementedError

    def _save_model(self, path: Path) -> None:
        raise NotImplementedError

    def _load_model(self, path: Path) -> None:
        raise NotImplementedError

    def predict_proba(self, examples: Sequence[Example]) -> np.ndarray:
        return self.calibrator.transform(self.raw_proba(examples))

    def predict(self, examples: Sequence[Example]) -> np.ndarray:
        return (self.predict_proba(examples) >= self.calibrator.threshold).astype(int)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_model(path)
        (path / META).write_text(json.dumps({"kind": self.kind, "params": self.params,
                                             "calibrator": self.calibrator.to_dict(),
                                             "info": self.info}, indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Classifier":
        path = Path(path)
        meta = load_meta(path)
        obj = cls(**meta.get("params", {}))
        obj.calibrator = Calibrator.from_dict(meta.get("calibrator"))
        obj.info = meta.get("info", {})
        obj._load_model(path)
        return obj
