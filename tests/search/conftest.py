"""Shared by the trial-life tests: a real SQLite study on edge_tiny and a rung summary."""

from __future__ import annotations

import optuna
import pytest

from snnas.search import SearchOptions, load_space


def rung_summary(k: int, acc: float, energy: float = 1.0, loss: float = 1.0) -> dict:
    """What a rung records (``RungResult.summary()``), with the numbers a test chooses."""
    return {"rung": k, "epochs": k + 1, "fraction": 0.1, "T": 1, "train_images": 10, "train_loss": loss,
            "val_accuracy": acc, "energy_uj": energy, "seconds": 0.1}


@pytest.fixture
def setup(tmp_path):
    """(study, space, options) of an edge_tiny search with seed 7 on a fresh SQLite file."""
    space = load_space("edge_tiny")
    opts = SearchOptions(space="edge_tiny", seed=7, storage=f"sqlite:///{tmp_path / 's.db'}").resolved(space)
    study = optuna.create_study(storage=opts.storage, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    return study, space, opts
