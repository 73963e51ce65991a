"""From a search to a trained network: ``snnas export`` writes one trial with a training recipe as JSON,
``snnas train`` trains it to completion over the training engine (checkpointed every epoch, resumable).

Example:
    >>> from snnas.export import parse_pick
    >>> parse_pick("energy<=0.2")
    ('energy<=', 0.2)
"""

from __future__ import annotations

from snnas.export._export import (
    DEFAULT_PICK,
    EXPORT_FORMAT,
    PICKS,
    default_recipe,
    export_trial,
    load_export,
    parse_pick,
    select_trial,
    validate_recipe,
)
from snnas.export._full import CHECKPOINT_FORMAT, RESULT_FORMAT, default_out_dir, recipe_hash, train

__all__ = ["CHECKPOINT_FORMAT", "DEFAULT_PICK", "EXPORT_FORMAT", "PICKS", "RESULT_FORMAT", "default_out_dir",
           "default_recipe", "export_trial", "load_export", "parse_pick", "recipe_hash", "select_trial", "train",
           "validate_recipe"]
