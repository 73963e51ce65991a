"""Reading a study back: the Pareto front as a pandas table, written to ``reports/<study>/pareto.csv``."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from snnas._atomic import write_atomic
from snnas.errors import SnnasError, first_line
from snnas.search._front import front_of
from snnas.search._record import ARCH_COLUMNS, TrialRecord
from snnas.search._storage import default_url, open_storage, storage_file

__all__ = ["trials_frame", "pareto_frame", "write_pareto_csv", "open_existing_study"]

COLUMNS = ("trial", "state", "val_accuracy", "energy_uj", "params", "arch_id", "seed", "data_seed", "seconds",
           "reason", "command", *ARCH_COLUMNS)


def _row(t: optuna.trial.FrozenTrial) -> dict:
    r = TrialRecord.of(t)
    return {"trial": r.number, "state": r.state.name, "val_accuracy": r.accuracy, "energy_uj": r.energy_uj,
            "params": r.n_params, "arch_id": r.arch_id, "seed": r.seed, "data_seed": r.data_seed,
            "seconds": r.seconds, "reason": r.reason, "command": r.command, **r.arch()}


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every trial, one row each."""
    return pd.DataFrame([_row(t) for t in study.get_trials(deepcopy=False)])


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The non-dominated trials among the completed, feasible ones clearly above chance
    (:func:`snnas.search._front.front_of`; ``study.best_trials`` when every trial recorded its chance test),
    most accurate first."""
    best = front_of(study.get_trials(deepcopy=False)).trials
    df = pd.DataFrame([_row(t) for t in best], columns=list(COLUMNS))
    return df.sort_values(["val_accuracy", "energy_uj"], ascending=[False, True]).reset_index(drop=True)


def write_pareto_csv(study: optuna.Study, reports_dir: str | Path = "reports") -> Path:
    return write_atomic(Path(reports_dir) / study.study_name / "pareto.csv", pareto_frame(study).to_csv(index=False))


def open_existing_study(study: str, storage: str | None = None, studies_dir: str | Path = "studies") -> optuna.Study:
    """Load a study made by ``snnas search`` (default storage ``sqlite:///studies/<study>.db``) to read it.

    A missing file, a file that is not an Optuna database, or an unknown study name is a one-line
    :class:`SnnasError` naming the studies that do exist; nothing is created.
    """
    url = storage or default_url(studies_dir, study)
    f = storage_file(url)
    if f is not None and not f.is_file():
        found = sorted(p.stem for p in Path(studies_dir).glob("*.db")) if storage is None else []
        hint = f"; studies in {studies_dir}/: {', '.join(found)}" if found else ""
        raise SnnasError(f"no study database at {f}{hint}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(url)
    try:
        names = [s.study_name for s in opened.get_all_studies()]
    except Exception as e:  # noqa: BLE001 - not a database, a newer schema, an unreachable server
        raise SnnasError(f"cannot read {url} as an Optuna storage ({type(e).__name__}: "
                         f"{first_line(e, 200)})") from None
    if study not in names:
        raise SnnasError(f"no study {study!r} in {url}; it holds: {', '.join(names) or 'none'}")
    return optuna.load_study(study_name=study, storage=opened)
