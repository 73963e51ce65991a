"""The Ray Tune backend's trial side and search side: the same trial life, with Ray placing the trials.

Ray places the trials; everything else is the Optuna backend's, so a study is the same whichever ran it:

* **Sampling and budget.** :class:`StudySearcher` implements Ray Tune's public ``Searcher`` interface over
  the study itself: ``suggest`` claims a slot with the Optuna backend's locked claim (the study's own
  sampler asks the architecture through :meth:`SearchSpace.suggest`), so the study ends with exactly
  ``--budget`` finished trials whether one driver, a re-run driver, or both backends ran.
* **Resume.** The driver beats the storage's heartbeat for every trial it holds; when it dies those trials
  go stale, fail without a reason (not counted) and are re-queued with their parameters and seed.
* **One trial life.** Each Tune trial has a :class:`~snnas.search._trial.TrialLife` in the driver: the
  rung results the worker reports are recorded through it, :class:`ParetoHalving` (a Ray scheduler) asks
  its gate after every rung and stops the trial when it says so, and ``on_trial_complete`` ends it as
  COMPLETE only when it reported its last rung, PRUNED when the gate stopped it, FAIL with a reason when it
  failed, and FAIL without one (re-queued) when it was stopped from outside. Workers need no access to
  the storage.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from snnas.search._locks import study_lock
from snnas.search._options import SearchOptions
from snnas.search._proxy import RUNG_SUMMARY_KEYS, ProxyTrainer
from snnas.search._study import claim
from snnas.search._trial import TrialLife, failure_reason, rss_mb
from snnas.search.space import SearchSpace

__all__ = ["Job", "ParetoHalving", "StudySearcher", "run_trial"]

TRIAL_KEY, SEED_KEY = "snnas_trial", "snnas_seed"  # constants added to a Tune trial's config


# ---------------------------------------------------------------- the trial, run in a Ray worker process


@dataclass
class Job:
    """What every trial of one search needs; sent once through the object store."""

    space: SearchSpace
    dataset: str
    data_dir: str | None
    data_seed: int
    device: str | None
    threads: int
    compile_neurons: bool = False


def _nan_result(**extra: Any) -> dict[str, Any]:
    return {"val_accuracy": math.nan, "energy_uj": math.nan, **extra}


_TRAINERS: dict[tuple, ProxyTrainer] = {}


def run_trial(config: dict[str, Any], job: Job) -> None:
    """Tune function trainable: train one architecture through the rungs, reporting each rung.

    A non-last rung's report lets the scheduler prune; the last one carries ``final=1`` and the energy
    report. A failure (non-finite loss, time limit, out of memory, any exception) is reported with its reason
    rather than raised, so the trial is recorded as FAIL with that reason.
    """
    from ray import tune

    params = {k: v for k, v in config.items() if k not in (TRIAL_KEY, SEED_KEY)}
    where = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        key = (job.space.source, job.dataset, job.data_dir, job.data_seed, job.device, job.threads,
               job.compile_neurons)
        if key not in _TRAINERS:  # Tune reuses this process for the next trial: load the dataset once
            _TRAINERS.clear()
            _TRAINERS[key] = ProxyTrainer(job.space, job.dataset, job.data_dir, job.device, job.threads,
                                          data_seed=job.data_seed, compile_neurons=job.compile_neurons)
        trainer = _TRAINERS[key]
        cfg = job.space.config_from_params(params, job.dataset)
    except Exception as e:  # noqa: BLE001 - e.g. the dataset is missing on this node
        tune.report(_nan_result(final=0, fail_reason=failure_reason(e), **where))
        return
    where["device"] = str(trainer.device)
    where["neurons"] = trainer.neurons
    last = len(job.space.rungs) - 1

    def on_rung(r: Any) -> None:
        if r.rung < last:
            tune.report({**r.summary(), "final": 0, "rss_mb": rss_mb(), **where})

    try:
        result = trainer.run(cfg, int(config[SEED_KEY]), on_rung)
    except Exception as e:  # noqa: BLE001 - recorded as the trial's failure, the search goes on
        tune.report(_nan_result(final=0, fail_reason=failure_reason(e), **where))
        return
    tune.report({**result.summary(), "final": 1, "energy_report": json.dumps(result.report.to_dict()),
                 "rss_mb": rss_mb(), "n_val": trainer.n_val, **where})


# ---------------------------------------------------------------- the driver side: searcher and scheduler

class _RunStop:
    """Ray Tune's ``Stopper`` for one run: it stops the whole experiment once the searcher was stopped
    (:meth:`_StudySearch.stop`). Tune keeps the objects it is given (the run config is copied shallowly), so
    the flag on the searcher is the one it reads."""

    def __init__(self, searcher: _StudySearch) -> None:
        self.searcher = searcher

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:  # noqa: ARG002 - Stopper's signature
        return False

    def stop_all(self) -> bool:
        return self.searcher.stopped


def RunStopper(searcher: _StudySearch) -> Any:  # noqa: N802
    """The Tune stopper of ``searcher``'s run (a factory, like the searcher)."""
    from ray.tune.stopper import Stopper

    return type("RunStopper", (_RunStop, Stopper), {})(searcher)



class _StudySearch:
    """Ray Tune's ``Searcher`` over the study: budget claim, one trial life per Tune trial.

    The logic of :func:`StudySearcher`, which mixes it with Ray's ``Searcher`` base when Ray is imported (the
    CLI and the Optuna backend never import Ray); ``FINISHED`` comes from that base.
    """

    FINISHED: str

    def __init__(self, study: optuna.Study, space: SearchSpace, opts: SearchOptions, deadline: float | None) -> None:
        super().__init__(metric=None, mode=None)  # two objectives: the study knows them, Tune need not
        self.study, self.space, self.opts, self.deadline = study, space, opts, deadline
        self.stopped = False  # Ctrl-C: no new trial, and RunStopper stops the running ones
        self.lock = study_lock(opts.storage, opts.studies_dir, opts.study)
        self.lives: dict[str, TrialLife] = {}  # Tune trial id -> its trial life
        self.errors: dict[str, str] = {}  # Tune trial id -> why its worker failed (from the scheduler)
        self.failures: list[str] = []

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        while True:
            if self.stopped:
                return self.FINISHED
            if self.deadline is not None and time.time() >= self.deadline:
                return self.FINISHED  # --timeout: start no more trials, let running ones finish
            trial = claim(self.study, self.opts.budget, self.lock)
            if trial is None:
                return self.FINISHED
            if trial is False:
                return None  # the open slots belong to running trials; Tune asks again
            life = TrialLife(self.study, trial, self.space, self.opts)
            if life.begin() is not None:  # an infeasible one is pruned untrained, never worth a worker
                self.lives[trial_id] = life
                return {**trial.params, SEED_KEY: life.seed, TRIAL_KEY: trial.number}

    def stop(self) -> None:
        """Ctrl-C: start no new trial, and have Tune stop the running ones (each ends as interrupted)."""
        self.stopped = True

    def held(self) -> list[int]:
        """Storage ids of the trials this driver holds (for the heartbeat)."""
        return [life.trial._trial_id for life in list(self.lives.values()) if not life.finished]

    def _live(self, trial_id: str) -> TrialLife | None:
        life = self.lives.get(trial_id)
        return life if life is not None and not life.finished else None

    def _record(self, life: TrialLife, result: dict[str, Any]) -> None:
        if "rung" in result and not result.get("fail_reason"):
            life.rung(int(result["rung"]), {k: result[k] for k in RUNG_SUMMARY_KEYS})
        life.placed(result)

    def gate(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether the trial goes on after the rung in ``result`` (the scheduler asks)."""
        life = self._live(trial_id)
        if life is None or result.get("final") != 0 or "rung" not in result or result.get("fail_reason"):
            return True
        return life.gate(int(result["rung"]), float(result["val_accuracy"]), float(result["energy_uj"])) is None

    def worker_failed(self, trial_id: str, why: str) -> None:
        """The scheduler saw the trial's worker fail; ``on_trial_complete`` records why."""
        self.errors[trial_id] = why

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        life = self._live(trial_id)
        if life is not None:
            self._record(life, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        life = self._live(trial_id)
        if life is None:
            return
        try:
            self._end(life, trial_id, result or {}, error)
        except Exception as e:  # noqa: BLE001 - a storage error must not end the search; it is shown
            self.failures.append(f"trial {life.number}: could not record ({e})")
            life.finished = True

    def _end(self, life: TrialLife, trial_id: str, result: dict[str, Any], error: bool) -> None:
        if result:
            self._record(life, result)
        if life.verdict is not None:
            life.prune(result.get("rss_mb"))
        elif result.get("fail_reason") or error:
            life.fail(result.get("fail_reason") or self.errors.get(trial_id) or "its Ray worker failed",
                      result.get("rss_mb"))
        elif result.get("final") == 1:
            life.complete(float(result["val_accuracy"]), float(result["energy_uj"]),
                          json.loads(result["energy_report"]), result.get("rss_mb"), n_val=result.get("n_val"))
        else:  # stopped before its last rung by something other than the gate (the driver is shutting down)
            life.interrupt()

    def save_to_dir(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to save: the study's storage is the search state, and resuming reads it."""

    def restore_from_dir(self, *args: Any, **kwargs: Any) -> None:
        """See :meth:`save_to_dir`."""


def StudySearcher(study: optuna.Study, space: SearchSpace, opts: SearchOptions,  # noqa: N802
                  deadline: float | None = None) -> Any:
    """The Ray searcher over ``study`` (a factory: Ray is imported only when the Ray backend runs)."""
    from ray.tune.search import Searcher

    return type("StudySearcher", (_StudySearch, Searcher), {})(study, space, opts, deadline)


class _ParetoHalving:
    """Pareto successive halving as a Ray scheduler: STOP a trial whose trial life's gate says so (mixed with
    Ray's ``FIFOScheduler`` by :func:`ParetoHalving`)."""

    CONTINUE: str
    STOP: str

    def __init__(self, searcher: Any) -> None:
        super().__init__()
        self._searcher = searcher

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return self.CONTINUE if self._searcher.gate(trial.trial_id, result) else self.STOP

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._searcher.worker_failed(trial.trial_id, _error_line(trial))
        super().on_trial_error(tune_controller, trial)


def ParetoHalving(searcher: Any) -> Any:  # noqa: N802
    """The Ray scheduler that prunes through the searcher's trial lives (a factory, like the searcher)."""
    from ray.tune.schedulers import FIFOScheduler

    return type("ParetoHalving", (_ParetoHalving, FIFOScheduler), {})(searcher)


def _error_line(trial: Any) -> str:
    """Why a Ray trial's worker failed, in one line (the last line of Tune's error file names the cause)."""
    text = ""
    try:
        if trial.error_file and os.path.exists(trial.error_file):
            text = Path(trial.error_file).read_text(errors="replace")
    except (OSError, AttributeError):
        pass
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Failure #")]
    cause = next((ln for ln in lines if "died" in ln or "Error" in ln.split(":")[0]), lines[-1] if lines else "")
    return f"Ray worker failed: {cause[:300] or 'no error recorded'} (Ray trial {trial.trial_id})"
