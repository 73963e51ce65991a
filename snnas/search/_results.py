"""Reading a study back: the Pareto front as a pandas table, written to ``reports/<study>/pareto.csv``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import optuna
import pandas as pd

from snnas._atomic import write_atomic
from snnas.errors import SnnasError, first_line
from snnas.search._front import front_of
from snnas.search._record import TrialRecord, knob_columns
from snnas.search._storage import default_url, identity, open_storage, storage_file
from snnas.search._study import UID

__all__ = ["open_existing_study", "own_report_dir", "pareto_frame", "report_dir", "trials_frame", "write_pareto_csv"]

HEAD = ("trial", "state", "val_accuracy", "energy_uj", "params")  # then the knobs the space varies, then TAIL
TAIL = ("arch_id", "seed", "data_seed", "seconds", "reason", "command")


def _frame(trials: list[optuna.trial.FrozenTrial], knobs: list[str]) -> pd.DataFrame:
    rows = []
    for t in trials:
        r = TrialRecord.of(t)
        rows.append({"trial": r.number, "state": r.state.name, "val_accuracy": r.accuracy, "energy_uj": r.energy_uj,
                     "params": r.n_params, **r.arch(tuple(knobs)), "arch_id": r.arch_id, "seed": r.seed,
                     "data_seed": r.data_seed, "seconds": r.seconds, "reason": r.reason, "command": r.command})
    return pd.DataFrame(rows, columns=[*HEAD, *knobs, *TAIL])


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """Every trial, one row each, with every knob the space varies (:func:`~._record.knob_columns`)."""
    trials = study.get_trials(deepcopy=False)
    return _frame(trials, knob_columns(trials))


def pareto_frame(study: optuna.Study) -> pd.DataFrame:
    """The non-dominated trials among the completed, feasible ones clearly above chance
    (:func:`snnas.search._front.front_of`; ``study.best_trials`` when every trial recorded its chance test),
    most accurate first, with every knob the space varies and no constant one."""
    trials = study.get_trials(deepcopy=False)
    df = _frame(front_of(trials).trials, knob_columns(trials))
    return df.sort_values(["val_accuracy", "energy_uj"], ascending=[False, True]).reset_index(drop=True)


OWNER = ".study"  # in a report folder: the identity of the study it shows


def _identity(study: optuna.Study, storage: str | None, studies_dir: str | Path) -> str:
    """The study's ``snnas:uid`` (kept when its file is copied or moved), else its storage's identity."""
    uid = study._storage.get_study_system_attrs(study._study_id).get(UID)
    return f"uid:{uid}" if uid else identity(storage or default_url(studies_dir, study.study_name))


def report_dir(study: optuna.Study, storage: str | None, root: str | Path = "reports",
               studies_dir: str | Path = "studies") -> Path:
    """The default report folder of ``study``: ``reports/<study>``, unless that folder shows another study of
    the same name (another storage's); then ``reports/<study>@<8 hex>``, so neither overwrites the other. A
    folder from before snnas recorded whose it is is taken as this study's."""
    folder = Path(root) / study.study_name
    me = _identity(study, storage, studies_dir)
    try:
        owner = (folder / OWNER).read_text(encoding="utf-8").strip()
    except OSError:
        owner = None
    if owner in (None, me):
        return folder
    return Path(root) / f"{study.study_name}@{hashlib.sha1(me.encode()).hexdigest()[:8]}"


def own_report_dir(folder: Path, study: optuna.Study, storage: str | None, studies_dir: str | Path = "studies") -> None:
    """Record which study ``folder`` shows (see :func:`report_dir`)."""
    write_atomic(folder / OWNER, _identity(study, storage, studies_dir) + "\n")


def write_pareto_csv(study: optuna.Study, storage: str | None, studies_dir: str | Path = "studies",
                     reports_dir: str | Path = "reports") -> Path:
    """``<report folder>/pareto.csv`` (:func:`report_dir`) for the study at ``storage``."""
    folder = report_dir(study, storage, reports_dir, studies_dir)
    path = write_atomic(folder / "pareto.csv", pareto_frame(study).to_csv(index=False))
    own_report_dir(folder, study, storage, studies_dir)
    return path


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
