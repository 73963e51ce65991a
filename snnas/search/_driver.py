"""The search driver: Optuna ask/tell workers sharing one study, with budget, resume and pruning.

* **Storage.** One Optuna storage per study (default ``sqlite:///studies/<study>.db``), the single store of
  results; ``optuna-dashboard`` and the ``optuna`` CLI read it unchanged.
* **Budget.** ``--budget N`` means N trials that finished on their own: COMPLETE, PRUNED, or FAIL with a
  recorded reason. Claiming a slot (count, then ``ask``) happens under a file lock, so any number of worker
  processes finish exactly N.
* **Resume.** Every running trial sends a heartbeat. A trial whose process died goes stale, is marked FAIL
  by Optuna (without a reason, so it does not count) and re-enqueued with the same parameters and seed.
  Re-running the same command therefore resumes: finished trials count, interrupted ones are re-run.
* **Pruning.** Pareto successive halving (:mod:`snnas.search._pruner`) at every rung but the last.
* **Objectives.** Validation accuracy (maximise) and energy per image (minimise) of the trained model;
  ``max_params`` is checked before training (a violating trial is pruned untrained: it could never be on
  the front) and ``max_energy_uj`` after, through ``trial.set_constraint``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnas import _faults
from snnas._versions import package_versions
from snnas.config import ArchConfig
from snnas.errors import SnnasError, first_line
from snnas.models import count_params
from snnas.search._pruner import pareto_keep
from snnas.search._storage import HEARTBEAT_S, default_url, lock_path, open_storage
from snnas.search._trainer import ProxyTrainer, RungResult, TrialFailure
from snnas.search.space import SearchSpace

__all__ = ["SearchOptions", "SAMPLERS", "make_sampler", "open_study", "counts_toward_budget", "run_worker",
           "finished_count"]

SAMPLERS = ("nsga2", "tpe", "gp", "random")
DIRECTIONS = ["maximize", "minimize"]  # validation accuracy, energy per image (uJ)



@dataclass
class SearchOptions:
    """Everything ``snnas search`` needs; also what each worker process receives."""

    space: str
    budget: int = 20
    dataset: str | None = None
    data_dir: str | None = None
    sampler: str = "nsga2"
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    seed: int = 0
    timeout: float | None = None
    device: str | None = None
    prune: bool = True
    threads: int | None = None
    studies_dir: str = "studies"
    backend: str = "optuna"  # or "ray"
    address: str | None = None  # ray: an existing cluster (auto or host:port); None starts a local one
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # ray: None = 0.25 when the cluster has GPUs, else 0
    max_concurrent: int | None = None  # ray: None = as many trials as the cluster's resources fit
    compile_neurons: str = "off"  # on: fused CPU neuron kernels (torch.compile); see docs/benchmarks.md

    def resolved(self, space: SearchSpace) -> SearchOptions:
        dataset = self.dataset or space.dataset
        study = self.study or f"{space.name}-{dataset}"
        storage = self.storage or default_url(self.studies_dir, study)
        threads = self.threads or max(1, (os.cpu_count() or 1) // max(1, self.workers))
        return SearchOptions(**{**self.__dict__, "dataset": dataset, "study": study, "storage": storage,
                                "threads": threads, "compile_neurons": self._compile_choice()})

    def _compile_choice(self) -> str:
        if self.compile_neurons not in ("on", "off"):
            raise SnnasError(f"--compile-neurons must be on or off (got {self.compile_neurons!r})")
        if self.compile_neurons == "on" and self.device != "cuda" and not cpp_compiler():
            raise SnnasError("--compile-neurons on needs a C++ compiler ($CXX, g++ or clang++) on PATH")
        return self.compile_neurons


def cpp_compiler() -> str | None:
    """The C++ compiler torch's inductor would use ($CXX, else g++ or clang++), or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


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


def interrupted(t: FrozenTrial) -> bool:
    """A trial whose process died: failed by the stale-trial check, with no recorded reason (not counted)."""
    return t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs


def planned_params(t: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial was to train: those it sampled, over those queued for it (a re-run's)."""
    return {**t.system_attrs.get("fixed_params", {}), **t.params}


def retry_stale(study: optuna.Study, trial: FrozenTrial, trials: list[FrozenTrial] | None = None) -> None:
    """Re-run an interrupted trial once, with its parameters and seed (a no-op if it already has its re-run).

    A trial that died before its architecture was sampled has nothing to re-run: it stays failed (uncounted)
    and the freed slot is sampled afresh. A re-run that died before sampling still carries the queued
    parameters of the trial it re-runs, and is re-run with them (found by the kill-anywhere suite: the
    original's parameters were lost when its re-run was killed early).
    """
    params = planned_params(trial)
    if not params:
        return
    if any(t.user_attrs.get("retry_of") == trial.number for t in trials or study.get_trials(deepcopy=False)):
        return
    attrs = {"retry_of": trial.number}
    if "seed" in trial.user_attrs:
        attrs["seed"] = trial.user_attrs["seed"]
    study.enqueue_trial(params, user_attrs=attrs)


def open_study(opts: SearchOptions, space: SearchSpace, seed_offset: int = 0) -> optuna.Study:
    """Create or load the study; a study made for another space or dataset is refused, not mixed.

    Under the claim lock: Optuna's RDB storage creates its tables and version row when it first opens a file,
    and processes doing that at once on a new file collided (``UNIQUE constraint failed:
    alembic_version.version_num``, found by the four-process test). The study's attributes are written under
    it too, and a run killed between them is completed by the next, not refused.
    """
    objectives = ["val_accuracy", "energy_uj"]
    with locked(lock_path(opts.storage, opts.studies_dir, opts.study)):
        storage = open_storage(opts.storage, create=True)
        try:
            study = optuna.create_study(study_name=opts.study, storage=storage, directions=DIRECTIONS,
                                        sampler=make_sampler(opts.sampler, opts.seed + seed_offset),
                                        load_if_exists=True)
            attrs = study.user_attrs
        except Exception as e:  # noqa: BLE001 - a damaged file or another program's database: refuse, touch nothing
            raise SnnasError(f"cannot use {opts.storage} as this search's storage ({type(e).__name__}: "
                             f"{first_line(e, 200)})") from None
        if attrs.get("objectives", objectives) != objectives:
            raise SnnasError(f"study {opts.study!r} in {opts.storage} was not made by snnas search; "
                             "use another --study")
        if attrs.get("space", space.name) != space.name or attrs.get("dataset", opts.dataset) != opts.dataset:
            raise SnnasError(f"study {opts.study!r} in {opts.storage} was made for space {attrs.get('space')!r} on "
                             f"{attrs.get('dataset')!r}; use another --study name")
        for key, value in (("space", space.name), ("space_definition", space.describe()), ("dataset", opts.dataset),
                           ("objectives", objectives), ("profile", space.profile)):
            if key not in attrs:
                study.set_user_attr(key, value)
    return study


def counts_toward_budget(t: FrozenTrial) -> bool:
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)


def finished_count(study: optuna.Study) -> int:
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def claim(study: optuna.Study, budget: int, lock: Path) -> optuna.Trial | None | bool:
    """A new trial, ``None`` when the budget is met, or ``False`` to wait (slots held by running trials)."""
    with locked(lock):
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
        if done >= budget:
            return None
        if done + running >= budget:
            return False
        trial = study.ask()
        _faults.point("ask")
        # Beat at once, under the lock. A process killed before this first beat leaves a trial that never beat;
        # the storage counts it stale GRACE_S after it started (``_storage._never_beat``).
        study._storage.record_heartbeat(trial._trial_id)
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


def _rerun_command(opts: SearchOptions, params: dict[str, Any], seed: int) -> str:
    args = ["snnas", "trial", "--space", opts.space, "--dataset", opts.dataset, "--seed", str(seed),
            "--data-seed", str(opts.seed), "--params", json.dumps(params, sort_keys=True)]
    if opts.data_dir:
        args += ["--data-dir", opts.data_dir]
    if opts.compile_neurons == "on":
        args += ["--compile-neurons", "on"]  # fused kernels may round the last bit differently: rerun alike
    return shlex.join(args)


def trial_seed(opts: SearchOptions, trial: optuna.Trial) -> int:
    """The trial's training seed: recorded on a re-run trial, else derived from the search seed and number."""
    return int(trial.user_attrs.get("seed", (opts.seed * 1_000_003 + trial.number) % 2**31))


def begin_trial(trial: optuna.Trial, space: SearchSpace, opts: SearchOptions) -> tuple[ArchConfig, int, str | None]:
    """Sample the architecture and record what every backend records before training.

    Returns the config, the seed, and a reason when the trial is infeasible (too many parameters): such a
    trial is pruned untrained, because it could never be on the front.
    """
    seed = trial_seed(opts, trial)
    trial.set_user_attr("seed", seed)  # first: a trial killed while sampling is re-run with its seed too
    cfg = space.suggest(trial, opts.dataset)
    _faults.point("sample")
    n_params = count_params(cfg)
    for key, value in (("arch_id", cfg.id), ("config", cfg.to_dict()), ("params", n_params),
                       ("versions", dict(package_versions("optuna"))), ("backend", opts.backend),
                       ("command", _rerun_command(opts, trial.params, seed))):
        trial.set_user_attr(key, value)
    if space.max_params is not None and n_params > space.max_params:
        return cfg, seed, f"{n_params} parameters > max_params {space.max_params}: infeasible, not trained"
    return cfg, seed, None


def tell_complete(study: optuna.Study, trial: optuna.Trial, space: SearchSpace, val_accuracy: float,
                  energy_uj: float, report: dict[str, Any], rss_mb: float | None) -> None:
    """Record a trial that trained through its last rung: objectives, energy report, constraints."""
    trial.set_user_attr("rss_mb", rss_mb)
    trial.set_user_attr("energy_report", report)
    if space.max_energy_uj is not None:
        trial.set_constraint("max_energy_uj", energy_uj - space.max_energy_uj)
    if space.max_params is not None:
        trial.set_constraint("max_params", float(trial.user_attrs["params"] - space.max_params))
    study.tell(trial, [val_accuracy, energy_uj])


def rung_population(study: optuna.Study, rung: int, me: int) -> list[tuple[float, float]]:
    """(accuracy, energy) of every other trial that reached ``rung``, whichever backend or process ran it."""
    key = f"rung{rung}"
    return [(t.user_attrs[key]["val_accuracy"], t.user_attrs[key]["energy_uj"])
            for t in study.get_trials(deepcopy=False) if t.number != me and key in t.user_attrs]


def rss_mb() -> float | None:
    """This process's resident memory now (Linux), recorded per trial to show it does not grow."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _run_trial(study: optuna.Study, trial: optuna.Trial, space: SearchSpace, trainer: ProxyTrainer,
               opts: SearchOptions) -> None:
    cfg, seed, infeasible = begin_trial(trial, space, opts)
    trial.set_user_attr("device", str(trainer.device))
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("neurons", trainer.neurons)
    if infeasible:
        trial.set_user_attr("prune_reason", infeasible)
        study.tell(trial, state=TrialState.PRUNED)
        return
    last = len(space.rungs) - 1

    def on_rung(r: RungResult) -> None:
        trial.set_user_attr(f"rung{r.rung}", r.summary())
        if opts.prune and r.rung < last:
            keep, why = pareto_keep((r.val_accuracy, r.energy_uj), rung_population(study, r.rung, trial.number),
                                    space.eta, space.min_rung_population)
            if not keep:
                trial.set_user_attr("prune_reason", f"rung {r.rung}: {why}")
                raise optuna.TrialPruned(why)

    try:
        result = trainer.run(cfg, seed, on_rung)
    except optuna.TrialPruned:
        trial.set_user_attr("rss_mb", rss_mb())
        study.tell(trial, state=TrialState.PRUNED)
        return
    except Exception as e:  # noqa: BLE001 - a failed trial (or a bug in it) is recorded, the search goes on
        trial.set_user_attr("fail_reason", failure_reason(e))
        trial.set_user_attr("rss_mb", rss_mb())  # after the trainer freed the trial's memory: back to baseline?
        study.tell(trial, state=TrialState.FAIL)
        return
    tell_complete(study, trial, space, result.val_accuracy, result.energy_uj, result.report.to_dict(), rss_mb())


def failure_reason(e: BaseException) -> str:
    """One line for a failed trial: a :class:`TrialFailure` speaks for itself, anything else is named."""
    return str(e) if isinstance(e, TrialFailure) else f"{type(e).__name__}: {first_line(e)}"


def make_trainer(opts: SearchOptions, space: SearchSpace) -> ProxyTrainer:
    """The worker's trainer; it loads the dataset, so a missing or corrupt one fails here."""
    return ProxyTrainer(space, opts.dataset, opts.data_dir, opts.device, opts.threads, data_seed=opts.seed,
                        compile_neurons=opts.compile_neurons == "on")


def run_worker(opts: SearchOptions, space: SearchSpace, worker: int = 0, deadline: float | None = None,
               trainer: ProxyTrainer | None = None) -> None:
    """Claim and run trials until the study holds ``opts.budget`` finished trials (or the deadline passes)."""
    trainer = trainer or make_trainer(opts, space)  # the data first: a corrupt dataset never opens the study
    study = open_study(opts, space, seed_offset=worker)
    lock = lock_path(opts.storage, opts.studies_dir, opts.study)
    while deadline is None or time.time() < deadline:
        trial = claim(study, opts.budget, lock)
        if trial is None:
            return
        if trial is False:
            time.sleep(1.0)  # the remaining slots belong to running trials; one may die and need a re-run
            continue
        with Heartbeat(study._storage, lambda ids=(trial._trial_id,): ids):
            _run_trial(study, trial, space, trainer, opts)
