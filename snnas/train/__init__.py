"""The training engine: seeded epochs, evaluation, BatchNorm recalibration and a run's data splits.

It knows nothing of search spaces. The search's proxy trainer runs its rungs over it and ``snnas train``
(:mod:`snnas.export`) its full trainings.

Example:
    >>> from snnas.train import TrainingData, warmup_cosine
    >>> len(TrainingData("fashion-mini", img_size=16, val_fraction=0.1).validation())
    500
"""

from __future__ import annotations

from snnas.train._data import TrainingData
from snnas.train._engine import (
    Engine,
    EpochStats,
    NonFiniteLoss,
    TimeLimitExceeded,
    TrainingFailure,
    out_of_memory,
    pick_device,
    warmup_cosine,
)

__all__ = ["Engine", "EpochStats", "NonFiniteLoss", "TimeLimitExceeded", "TrainingData", "TrainingFailure",
           "out_of_memory", "pick_device", "warmup_cosine"]
