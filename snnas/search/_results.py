"""Reading a study back: the Pareto front as a pandas table, written to ``reports/<study>/pareto.csv``."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

__all__ = ["trials_frame", "pareto_frame", "write_pareto_csv"]

_ARCH = ("T", "saccades", "depth", "embed_dim", "num_heads", "mlp_ratio", "tokenizer", "kappa", "attention")
COLUMNS = ("trial", "state", "val_accuracy", "energy_uj", "params", "arch_id", "seed", "seconds", "reason",
           "command", *_ARCH)


def _row(t: optuna.trial.FrozenTrial) -> dict:
    cfg = t.user_attrs.get("config", {})
    row = {"trial": t.number, "state": t.state.name,
           "val_accuracy": t.values[0] if t.values else None, "energy_uj": t.values[1] if t.values else None,
           "params": t.user_attrs.get("params"), "arch_id": t.user_attrs.get("arch_id"),
           "seed": t.user_attrs.get("seed"),
           "seconds": t.duration.total_seconds() if t.duration else None,
           "reason": t.user_attrs.get("prune_reason") or t.user_attrs.get("fail_reason"),
           "command": t.user_attrs.get("command")}
    row.update({k: cfg.get(k) for k in _ARCH})
    return row


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every trial, one row each."""
    return pd.DataFrame([_row(t) for t in study.get_trials(deepcopy=False)])


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The feasible, completed, non-dominated trials (``study.best_trials``), most accurate first."""
    best = [t for t in study.best_trials if t.state == TrialState.COMPLETE]
    df = pd.DataFrame([_row(t) for t in best], columns=list(COLUMNS))
    return df.sort_values(["val_accuracy", "energy_uj"], ascending=[False, True]).reset_index(drop=True)


def write_pareto_csv(study: optuna.Study, reports_dir: str | Path = "reports") -> Path:
    path = Path(reports_dir) / study.study_name / "pareto.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pareto_frame(study).to_csv(path, index=False)
    return path
