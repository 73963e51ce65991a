"""The study: one Optuna storage shared by every worker and backend, its sampler, and the exact-budget claim.

* **Storage.** One Optuna storage per study (default ``sqlite:///studies/<study>.db``), the single store of
  results; ``optuna-dashboard`` and the ``optuna`` CLI read it unchanged.
* **Budget.** ``--budget N`` means N trials that finished on their own: COMPLETE, PRUNED, or FAIL with a
  recorded reason. Claiming a slot (count, then ``ask``) happens under the study lock (:mod:`._locks`: a file
  lock for SQLite, the journal's lock file, a database lock on a server), so any number of worker processes,
  of either backend, on one machine or several, finish exactly N.
* **Sampler streams.** Every process that joins a study takes the next stream number under the lock and seeds
  its sampler ``--seed + stream``: processes never propose from the same random stream, and a lone run in a
  new study (stream 0) is reproducible.
* **Readable by Optuna's tools.** The objectives are the study's metric names (optuna-dashboard and Optuna's
  plots label them ``val_accuracy`` and ``energy_uj``). The space definition (~1,200 characters) is a study
  *system* attribute, :data:`SPACE_DEFINITION`, read with :func:`space_definition`: ``optuna studies`` prints
  every user attribute on one row. Studies made before kept it as the user attribute ``space_definition``.
* **Resume.** Every running trial sends a heartbeat. A trial whose process died goes stale, is marked FAIL
  by Optuna (without a reason, so it does not count) and re-enqueued with the same parameters and seed.
  Re-running the same command therefore resumes: finished trials count, interrupted ones are re-run.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnas import _faults
from snnas.errors import SnnasError, first_line
from snnas.search._locks import study_lock
from snnas.search._options import SAMPLERS, SearchOptions
from snnas.search._record import Attr, TrialRecord, counts_toward_budget, interrupted
from snnas.search._storage import HEARTBEAT_S, open_storage
from snnas.search.space import SearchSpace

__all__ = ["DIRECTIONS", "OBJECTIVES", "SPACE_DEFINITION", "STREAMS", "UID", "Heartbeat", "claim", "finished_count",
           "make_sampler", "exhausted", "open_study", "release", "retry_stale", "space_definition"]

STREAMS = "sampler_streams"  # study attribute: how many sampler streams processes have taken

DIRECTIONS = ["maximize", "minimize"]  # validation accuracy, energy per image (uJ)
OBJECTIVES = ["val_accuracy", "energy_uj"]
UID = "snnas:uid"  # study system attribute: a random id, made once (the report folder is keyed by it)
SPACE_DEFINITION = "snnas:space_definition"  # study system attribute: SearchSpace.describe() when it was made
_OLD_SPACE_DEFINITION = "space_definition"  # the user attribute that held it in studies made before


def space_definition(study: optuna.Study) -> dict[str, Any] | None:
    """The space definition ``study`` was made with (``SearchSpace.describe()``), or None if it records none."""
    found = study._storage.get_study_system_attrs(study._study_id).get(SPACE_DEFINITION)
    return found if found is not None else study.user_attrs.get(_OLD_SPACE_DEFINITION)


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=10)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SnnasError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def retry_stale(study: optuna.Study, trial: FrozenTrial, trials: list[FrozenTrial] | None = None) -> None:
    """Re-run an interrupted trial once, with its parameters and seed (a no-op if it already has its re-run).

    A trial that died before its architecture was sampled has nothing to re-run: it stays failed (uncounted)
    and the freed slot is sampled afresh. A re-run that died before sampling still carries the queued
    parameters of the trial it re-runs, and is re-run with them (found by the kill-anywhere suite: the
    original's parameters were lost when its re-run was killed early).
    """
    record = TrialRecord.of(trial)
    if not record.planned_params:
        return
    if any(t.user_attrs.get(Attr.RETRY_OF) == trial.number for t in trials or study.get_trials(deepcopy=False)):
        return
    attrs = {Attr.RETRY_OF: trial.number}
    if record.seed is not None:
        attrs[Attr.SEED] = record.seed
    study.enqueue_trial(record.planned_params, user_attrs=attrs)


def release(study: optuna.Study, trial_ids: Iterable[int]) -> int:
    """End this process's running trials as interrupted (FAIL, no reason: not counted), as the stale check
    would ``GRACE_S`` later; the next claim re-queues each with its parameters and seed. For Ctrl-C, so a
    resume at once re-runs them instead of waiting for them to go stale. Returns how many it ended."""
    ended = 0
    for trial_id in trial_ids:
        try:
            if study._storage.get_trial(trial_id).state == TrialState.RUNNING:
                study._storage.set_trial_state_values(trial_id, TrialState.FAIL)
                ended += 1
        except Exception:  # noqa: BLE001 - it finished meanwhile; the stale check covers anything missed
            pass
    return ended


def open_study(opts: SearchOptions, space: SearchSpace, sampling: bool = True) -> optuna.Study:
    """Create or load the study; a study made for another space or dataset is refused, not mixed. With
    ``sampling`` the study gets this process's own sampler stream (a process that only watches takes none).

    Under the study lock: Optuna's RDB storage creates its tables and version row when it first opens a file,
    and processes doing that at once on a new file collided (``UNIQUE constraint failed:
    alembic_version.version_num``, found by the four-process test). The study's attributes are written under
    it too, and a run killed between them is completed by the next, not refused.
    """
    with study_lock(opts.storage, opts.studies_dir, opts.study):
        storage = open_storage(opts.storage, create=True)
        try:
            study = optuna.create_study(study_name=opts.study, storage=storage, directions=DIRECTIONS,
                                        load_if_exists=True)
            attrs = study.user_attrs
        except Exception as e:  # noqa: BLE001 - a damaged file or another program's database: refuse, touch nothing
            raise SnnasError(f"cannot use {opts.storage} as this search's storage ({type(e).__name__}: "
                             f"{first_line(e, 200)})") from None
        if attrs.get("objectives", OBJECTIVES) != OBJECTIVES:
            raise SnnasError(f"study {opts.study!r} in {opts.storage} was not made by snnas search; "
                             "use another --study")
        if attrs.get("space", space.name) != space.name or attrs.get("dataset", opts.dataset) != opts.dataset:
            raise SnnasError(f"study {opts.study!r} in {opts.storage} was made for space {attrs.get('space')!r} on "
                             f"{attrs.get('dataset')!r}; use another --study name")
        for key, value in (("space", space.name), ("dataset", opts.dataset), ("objectives", OBJECTIVES),
                           ("profile", space.profile)):
            if key not in attrs:
                study.set_user_attr(key, value)
        system = study._storage.get_study_system_attrs(study._study_id)
        if SPACE_DEFINITION not in system and _OLD_SPACE_DEFINITION not in attrs:  # as space_definition() reads
            study._storage.set_study_system_attr(study._study_id, SPACE_DEFINITION, space.describe())
        if UID not in system:  # what tells two same-named studies apart, wherever their files are copied
            study._storage.set_study_system_attr(study._study_id, UID, uuid.uuid4().hex)
        if study.metric_names != OBJECTIVES:  # older studies too: it names what they already hold
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(OBJECTIVES)
        if sampling:
            stream = int(attrs.get(STREAMS, 0))
            study.set_user_attr(STREAMS, stream + 1)
            study.sampler = make_sampler(opts.sampler, opts.seed + stream)
    return study


def finished_count(study: optuna.Study) -> int:
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


DUPLICATE_LIMIT = 30  # the search ends after this many proposals in a row of architectures already trained


def exhausted(trials: list[FrozenTrial]) -> bool:
    """The sampler proposed only architectures the study already trained for the last ``DUPLICATE_LIMIT``
    finished trials: the space (or what the sampler still proposes of it) is used up."""
    last = [t for t in trials if t.state.is_finished()][-DUPLICATE_LIMIT:]
    return len(last) == DUPLICATE_LIMIT and all(Attr.DUPLICATE_OF in t.user_attrs for t in last)


def claim(study: optuna.Study, budget: int, lock: AbstractContextManager[None],
          owner: dict[str, object] | None = None) -> optuna.Trial | None | bool:
    """A new trial, ``None`` when the budget is met, or ``False`` to wait (slots held by running trials);
    ``lock`` is the study's lock (:func:`._locks.study_lock`); ``owner`` (user attributes: the claiming
    process's pid and host) is written with the claim, so no trial is RUNNING unowned for longer than that."""
    with lock:
        optuna.storages.fail_stale_trials(study)  # dead processes' trials fail (no reason: not counted)
        trials = study.get_trials(deepcopy=False)
        # Re-queue every interrupted trial that lacks its re-run. Done here, under the lock, rather than in the
        # stale-trial callback: a process killed between failing a trial and queueing its re-run (two storage
        # writes) would otherwise lose the re-run for good; this repairs it on the next claim.
        for t in trials:
            if interrupted(t):
                retry_stale(study, t, trials)
        done = sum(counts_toward_budget(t) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if done >= budget or exhausted(trials):
            return None
        if done + running >= budget:
            return False
        trial = study.ask()
        _faults.point("ask")
        # Beat at once, under the lock. A process killed before this first beat leaves a trial that never beat;
        # the storage counts it stale GRACE_S after it started (``_storage._never_beat``).
        study._storage.record_heartbeat(trial._trial_id)
        for key, value in (owner or {}).items():
            trial.set_user_attr(key, value)
        return trial


class Heartbeat:
    """Beats for the storage's stale-trial detection while a process holds trials (``ids()`` says which)."""

    def __init__(self, storage: optuna.storages.BaseStorage, ids: Callable[[], Iterable[int]]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, ids), daemon=True)

    def _beat(self, storage: optuna.storages.BaseStorage, ids: Callable[[], Iterable[int]]) -> None:
        while not self._stop.is_set():
            for trial_id in list(ids()):
                try:
                    storage.record_heartbeat(trial_id)
                except Exception:  # noqa: BLE001 - a trial finished between listing and beating
                    pass
            self._stop.wait(HEARTBEAT_S)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
