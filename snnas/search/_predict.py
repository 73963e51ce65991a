"""Predicted final accuracy for the pruning gate: a small ridge model fitted on the study's own trials.

Early-rung accuracy ranks spiking networks poorly (slow starters: T=1 networks that lag after one short rung
and end among the best). The gate therefore compares trials on the accuracy they are *predicted* to reach
at the last rung, from the architecture (its config's numeric knobs) and what the rung measured (validation
accuracy, training loss, energy). The model is ridge regression on standardised features, fitted on every
trial of the study that reached the last rung; until :data:`MIN_FIT` such trials exist the gate uses the
raw rung accuracy. ``bench/reference_table.py --report`` measures its rank correlation with a 10x longer
training against the raw rung accuracy's, cross-validated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MIN_FIT", "RidgePredictor", "features"]

MIN_FIT = 12  # trials that reached the last rung before the gate trusts the model
RIDGE = 3.0  # L2 penalty on standardised features (chosen on the reference table, see docs/benchmarks.md)


def _num(v: Any, default: float = 0.0) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def features(config: Mapping[str, Any], rung: Mapping[str, Any], n_params: int | None = None) -> list[float]:
    """The feature vector of one trial at one rung (``config``: ``ArchConfig.to_dict()``; ``rung``: a rung
    summary with ``val_accuracy``, ``train_loss`` and ``energy_uj``).

    Example:
        >>> len(features({"T": 4, "depth": 2, "embed_dim": 32}, {"val_accuracy": 0.3, "train_loss": 2.0,
        ...                                                     "energy_uj": 1.0}))
        14
    """
    sacc = config.get("saccades")
    loss = _num(rung.get("train_loss"), 2.3)
    return [
        math.log2(max(1.0, _num(config.get("T"), 1))),
        _num(config.get("depth"), 1),
        _num(config.get("embed_dim"), 32) / 64,
        math.log2(max(1.0, _num(config.get("num_heads"), 1))),
        _num(config.get("mlp_ratio"), 1.0),
        _num(config.get("neuron_tau"), 2.0),
        float(config.get("tokenizer") == "gl_sps"),
        float(config.get("kappa") == "learned"),
        float(sacc == "threshold"),
        math.log2(_num(sacc, 1)) if sacc != "threshold" else 0.0,
        math.log(max(1.0, _num(n_params, 1.0))),
        _num(rung.get("val_accuracy")),
        loss if math.isfinite(loss) else 10.0,
        math.log(max(1e-6, _num(rung.get("energy_uj"), 1.0))),
    ]


class RidgePredictor:
    """Ridge regression ``features -> final accuracy``; ``None`` from :meth:`fit` when too few samples.

    Example:
        >>> import random
        >>> rng = random.Random(0)
        >>> X = [[rng.random() for _ in range(3)] for _ in range(40)]
        >>> y = [2 * a - b for a, b, _ in X]
        >>> m = RidgePredictor.fit(X, y, alpha=1e-6, min_samples=5)
        >>> round(m.predict([[0.5, 0.25, 0.9]])[0], 3)
        0.75
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float, n: int) -> None:
        self.mean, self.scale, self.coef, self.intercept, self.n = mean, scale, coef, intercept, n

    @classmethod
    def fit(cls, X: Sequence[Sequence[float]], y: Sequence[float], alpha: float = RIDGE,
            min_samples: int = MIN_FIT) -> RidgePredictor | None:
        if len(y) < min_samples:
            return None
        A, b = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        mean, scale = A.mean(0), A.std(0)
        scale[scale == 0] = 1.0
        Z = (A - mean) / scale
        coef = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (b - b.mean()))
        return cls(mean, scale, coef, float(b.mean()), len(b))

    def predict(self, X: Sequence[Sequence[float]]) -> list[float]:
        Z = (np.asarray(X, dtype=float) - self.mean) / self.scale
        return [float(v) for v in Z @ self.coef + self.intercept]
