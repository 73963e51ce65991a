"""The Optuna backend: ask/tell workers sharing one study, each living its trials through :class:`TrialLife`.

A worker claims a slot of the budget (:func:`~snnas.search._study.claim`), beats the trial's heartbeat
while it trains, and runs the proxy trainer with a callback that records every rung and asks the gate
whether to go on. The study, the budget and resume are :mod:`snnas.search._study`'s; what a trial records
and how it ends are :mod:`snnas.search._trial`'s, shared with the Ray backend.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from snnas.search._locks import study_lock
from snnas.search._options import SearchOptions
from snnas.search._proxy import ProxyTrainer, RungResult
from snnas.search._record import Attr
from snnas.search._study import Heartbeat, claim, open_study
from snnas.search._trial import TrialLife, failure_reason, rss_mb
from snnas.search.space import SearchSpace

__all__ = ["ClaimGate", "live", "make_trainer", "run_worker"]


class _Pruned(Exception):
    """The gate stopped the trial after a rung (raised through the trainer, which frees the network)."""


class ClaimGate:
    """Lets Ctrl-C stop a worker without leaving a trial RUNNING that names no process. A claim (``study.ask``
    and the trial's pid and host written, under the study lock) is one step a stop waits for, so the search
    finds every trial its workers hold and ends it as interrupted at once, rather than the stale check later.

    In a worker thread, :meth:`stop` waits for a claim in progress, and no claim starts after it. In a worker
    process, SIGTERM (what the search sends on Ctrl-C; :meth:`on_sigterm` handles it) ends the process at once,
    as SIGKILL would, except during a claim: then it ends it as soon as the claim is written. Found by the
    two-worker Ctrl-C test with a budget it could not finish in time: a worker killed between ``ask`` and the
    first record of its pid left a RUNNING trial nothing owned.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = self._claiming = self._pending = False

    @contextmanager
    def claiming(self) -> Iterator[bool]:
        """Around one claim: yields False once stopped (claim nothing)."""
        with self._lock:
            self._claiming = True
            try:
                yield not self._stopped
            finally:  # also when the claim raised: the stop still ends the process
                self._claiming = False
                if self._pending:
                    os._exit(128 + signal.SIGTERM)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True

    def on_sigterm(self, signum: int, frame: object) -> None:  # noqa: ARG002 - signal handler signature
        if self._claiming:
            self._pending = True
        else:
            os._exit(128 + signal.SIGTERM)  # no cleanup, as a kill: the search ends the trial it held


def make_trainer(opts: SearchOptions, space: SearchSpace) -> ProxyTrainer:
    """The worker's trainer; it loads the dataset, so a missing or corrupt one fails here."""
    return ProxyTrainer(space, opts.dataset, opts.data_dir, opts.device, opts.threads, data_seed=opts.seed,
                        compile_neurons=opts.compile_neurons == "on")


def live(life: TrialLife, trainer: ProxyTrainer) -> None:
    """Train one claimed trial through its rungs in this process and end it in the study."""
    where = {"device": str(trainer.device), "pid": os.getpid(), "host": socket.gethostname(),
             "neurons": trainer.neurons}
    cfg = life.begin(where)
    if cfg is None:  # infeasible: pruned untrained
        return

    def on_rung(r: RungResult) -> None:
        life.rung(r.rung, r.summary())
        if life.gate(r.rung, r.val_accuracy, r.energy_uj) is not None:
            raise _Pruned

    try:
        result = trainer.run(cfg, life.seed, on_rung)
    except _Pruned:
        life.prune(rss_mb())
        return
    except Exception as e:  # noqa: BLE001 - a failed trial (or a bug in it) is recorded, the search goes on
        life.fail(failure_reason(e), rss_mb())
        return
    life.complete(result.val_accuracy, result.energy_uj, result.report.to_dict(), rss_mb(), n_val=trainer.n_val)


def run_worker(opts: SearchOptions, space: SearchSpace, deadline: float | None = None,
               trainer: ProxyTrainer | None = None, gate: ClaimGate | None = None) -> None:
    """Claim and run trials until the study holds ``opts.budget`` finished trials (or the deadline passes, or
    ``gate`` is stopped)."""
    trainer = trainer or make_trainer(opts, space)  # the data first: a corrupt dataset never opens the study
    study = open_study(opts, space)
    lock = study_lock(opts.storage, opts.studies_dir, opts.study)
    gate = gate or ClaimGate()
    owner = {Attr.PID: os.getpid(), Attr.HOST: socket.gethostname()}
    while deadline is None or time.time() < deadline:
        with gate.claiming() as go:
            trial = claim(study, opts.budget, lock, owner) if go else None
        if trial is None:
            return
        if trial is False:
            time.sleep(1.0)  # the remaining slots belong to running trials; one may die and need a re-run
            continue
        with Heartbeat(study._storage, lambda ids=(trial._trial_id,): ids):
            live(TrialLife(study, trial, space, opts), trainer)

