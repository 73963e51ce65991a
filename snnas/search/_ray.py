"""The Ray Tune backend: the same search, trials spread over a Ray cluster.

Ray places the trials; everything else is the Optuna backend's, so a study is the same whichever ran it:

* **Sampling.** Ray Tune's :class:`~ray.tune.search.optuna.OptunaSearch` in multi-objective mode on the
  study's own storage, with the sampler ``make_sampler`` builds for the Optuna backend; the space is sampled
  define-by-run through :meth:`SearchSpace.suggest`, so conditional knobs behave identically.
* **Budget and resume.** Every suggestion claims its slot with the Optuna backend's locked claim: the study
  ends with exactly ``--budget`` finished trials, whether one driver, a re-run driver, or both backends ran.
  The driver beats the storage's heartbeat for every trial it holds; when it dies those trials go stale,
  fail without a reason (not counted) and are re-queued with their parameters and seed.
* **Pruning.** :class:`ParetoHalving`, a Ray scheduler, stops a trial at a rung with the Optuna backend's
  Pareto successive-halving rule against the rung population in the study. ``OptunaSearch`` would tell
  Optuna that a stopped trial is COMPLETE with its under-trained metrics (and the same for a crashed trial
  with an earlier result); :class:`StudySearcher` tells COMPLETE only for a trial that reported its last
  rung, PRUNED for one the scheduler stopped, FAIL with a reason for one that failed.
* **Trial attributes** are written by the driver from what the trials report (workers need no access to
  the storage), through the same functions the Optuna backend uses.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from snnas.errors import SnnasError
from snnas.search._driver import (
    Heartbeat,
    SearchOptions,
    begin_trial,
    claim,
    failure_reason,
    make_sampler,
    retry_stale,
    rss_mb,
    rung_population,
    tell_complete,
)
from snnas.search._pruner import pareto_keep
from snnas.search._storage import lock_path
from snnas.search._trainer import RUNG_SUMMARY_KEYS
from snnas.search.space import SearchSpace

__all__ = ["RayRunner", "ParetoHalving", "StudySearcher", "check_address"]

METRICS, MODES = ["val_accuracy", "energy_uj"], ["max", "min"]
TRIAL_KEY, SEED_KEY = "snnas_trial", "snnas_seed"  # constants added to a Tune trial's config
DEFAULT_GPU_SHARE = 0.25  # small proxy trials: four share one GPU unless told otherwise


def _import_ray() -> Any:
    # Ray logs through the root logger and warns about features we do not use; keep the search's output ours.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # the study is the record, not CSV/TB
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # After an abort the Tune thread may still touch Ray; it must not auto-connect to some other cluster.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray[tune] is a dependency
        raise SnnasError(f"--backend ray needs ray[tune] installed ({e})") from None
    return ray


# ---------------------------------------------------------------- the trial, run in a Ray worker process


@dataclass
class _Job:
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


_TRAINERS: dict[tuple, Any] = {}


def run_trial(config: dict[str, Any], job: _Job) -> None:
    """Tune function trainable: train one architecture through the rungs, reporting each rung.

    A non-last rung's report lets the scheduler prune; the last one carries ``final=1`` and the energy
    report. A failure (non-finite loss, time limit, out of memory, any exception) is reported with its reason
    rather than raised, so the trial is recorded as FAIL with that reason.
    """
    from ray import tune

    from snnas.search._trainer import ProxyTrainer

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
                 "rss_mb": rss_mb(), **where})


# ---------------------------------------------------------------- the driver side: searcher and scheduler


def _searcher_class() -> type:
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    class _StudySearcher(OptunaSearch):
        """``OptunaSearch`` on the study's storage, with the budget claim and honest trial states."""

        def __init__(self, study: optuna.Study, space: SearchSpace, opts: SearchOptions,
                     deadline: float | None) -> None:
            self._snnas_space, self._opts, self._deadline = space, opts, deadline
            self._lock = lock_path(opts.storage, opts.studies_dir, opts.study)
            self.pruned: dict[str, str] = {}  # Tune trial id -> prune reason (written by the scheduler)
            self.errors: dict[str, str] = {}  # Tune trial id -> why its worker failed (written by the scheduler)
            self.told: set[str] = set()  # Tune trial ids already told to Optuna
            self.failures: list[str] = []
            super().__init__(space=self._define, metric=list(METRICS), mode=list(MODES),
                             sampler=make_sampler(opts.sampler, opts.seed), study_name=opts.study,
                             storage=study._storage)

        # OptunaSearch's define-by-run hook: the space's own suggest, so conditions and attributes match.
        def _define(self, trial: Any) -> dict[str, Any]:
            cfg, seed, infeasible = begin_trial(trial, self._snnas_space, self._opts)
            return {SEED_KEY: seed, TRIAL_KEY: trial.number, "_infeasible": infeasible}

        def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
            while True:
                if self._deadline is not None and time.time() >= self._deadline:
                    return Searcher.FINISHED  # --timeout: start no more trials, let running ones finish
                ot_trial = claim(self._ot_study, self._opts.budget, self._lock)
                if ot_trial is None:
                    return Searcher.FINISHED
                if ot_trial is False:
                    return None  # the open slots belong to running trials; Tune asks again
                config = self._suggest_from_define_by_run_func(self._space, ot_trial)
                infeasible = config.pop("_infeasible")
                if infeasible is None:
                    self._ot_trials[trial_id] = ot_trial
                    return config
                ot_trial.set_user_attr("prune_reason", infeasible)  # never worth a worker: pruned untrained
                self._ot_study.tell(ot_trial, state=TrialState.PRUNED)

        def held(self) -> list[int]:
            """Storage ids of the trials this driver holds (for the heartbeat)."""
            return [t._trial_id for tid, t in list(self._ot_trials.items()) if tid not in self.told]

        def record_rung(self, trial_id: str, result: dict[str, Any]) -> optuna.Trial:
            ot_trial = self._ot_trials[trial_id]
            if "rung" in result and not result.get("fail_reason"):
                ot_trial.set_user_attr(f"rung{int(result['rung'])}", {k: result[k] for k in RUNG_SUMMARY_KEYS})
            for key in ("device", "pid", "host", "neurons"):
                if key in result and ot_trial.user_attrs.get(key) != result[key]:
                    ot_trial.set_user_attr(key, result[key])
            return ot_trial

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if trial_id in self._ot_trials and trial_id not in self.told:
                self.record_rung(trial_id, result)

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                              error: bool = False) -> None:
            if trial_id not in self._ot_trials or trial_id in self.told:
                return
            try:
                self._tell(trial_id, result or {}, error)
            except Exception as e:  # noqa: BLE001 - a storage error must not end the search; it is shown
                self.failures.append(f"trial {self._ot_trials[trial_id].number}: could not record ({e})")
                self.told.add(trial_id)

        def _tell(self, trial_id: str, result: dict[str, Any], error: bool) -> None:
            ot_trial = self.record_rung(trial_id, result) if result else self._ot_trials[trial_id]
            study, space = self._ot_study, self._snnas_space
            if trial_id in self.pruned:
                ot_trial.set_user_attr("prune_reason", self.pruned[trial_id])
                ot_trial.set_user_attr("rss_mb", result.get("rss_mb"))
                study.tell(ot_trial, state=TrialState.PRUNED)
            elif result.get("fail_reason") or error:
                reason = result.get("fail_reason") or self.errors.get(trial_id) or "its Ray worker failed"
                ot_trial.set_user_attr("fail_reason", reason)
                study.tell(ot_trial, state=TrialState.FAIL)
            elif result.get("final") == 1:
                tell_complete(study, ot_trial, space, float(result["val_accuracy"]), float(result["energy_uj"]),
                              json.loads(result["energy_report"]), result.get("rss_mb"))
            else:
                # Stopped before its last rung by something other than our pruner (the driver is shutting
                # down): not a result at any fidelity. Failed without a reason (not counted) and re-queued.
                study.tell(ot_trial, state=TrialState.FAIL)
                retry_stale(study, ot_trial)
            self.told.add(trial_id)

        def save_to_dir(self, *args: Any, **kwargs: Any) -> None:
            """Nothing to save: the study's storage is the search state, and resuming reads it."""

        def restore_from_dir(self, *args: Any, **kwargs: Any) -> None:
            """See :meth:`save_to_dir`."""

    return _StudySearcher


def StudySearcher(study: optuna.Study, space: SearchSpace, opts: SearchOptions,  # noqa: N802
                  deadline: float | None = None) -> Any:
    """The Ray searcher over ``study`` (a factory: Ray is imported only when the Ray backend runs)."""
    return _searcher_class()(study, space, opts, deadline)


def _scheduler_class() -> type:
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class _ParetoHalving(FIFOScheduler):
        """Pareto successive halving as a Ray scheduler: STOP a trial whose rung result is dominated."""

        def __init__(self, searcher: Any, space: SearchSpace, prune: bool) -> None:
            super().__init__()
            self._searcher, self._space, self._prune = searcher, space, prune

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            s = self._searcher
            if not self._prune or result.get("final") != 0 or "rung" not in result or result.get("fail_reason"):
                return TrialScheduler.CONTINUE
            ot_trial = s._ot_trials.get(trial.trial_id)
            rung = int(result["rung"])
            if ot_trial is None or rung >= len(self._space.rungs) - 1:
                return TrialScheduler.CONTINUE
            keep, why = pareto_keep((float(result["val_accuracy"]), float(result["energy_uj"])),
                                    rung_population(s._ot_study, rung, ot_trial.number),
                                    self._space.eta, self._space.min_rung_population)
            if keep:
                return TrialScheduler.CONTINUE
            s.pruned[trial.trial_id] = f"rung {rung}: {why}"
            return TrialScheduler.STOP

        def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
            self._searcher.errors[trial.trial_id] = _error_line(trial)
            super().on_trial_error(tune_controller, trial)

    return _ParetoHalving


def ParetoHalving(searcher: Any, space: SearchSpace, prune: bool = True) -> Any:  # noqa: N802
    """The Ray scheduler that prunes with the study's rung populations (a factory, like the searcher)."""
    return _scheduler_class()(searcher, space, prune)


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


# ---------------------------------------------------------------- the run: cluster, Tuner, shutdown


def _use_token_if_present() -> None:
    """Attach with Ray's auth token when this machine has one and the user did not choose a mode.

    Ray 2.60 enables token authentication by default on the clusters it starts, but a driver attaching with
    ``RAY_AUTH_MODE`` unset sends no token and is refused (after a minute of retries). A token-sending driver
    is also accepted by a cluster without authentication, so sending the token when there is one is safe.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def check_address(address: str) -> None:
    """Fail in seconds, not after Ray's minute of reconnecting, when nothing listens at ``--address``."""
    if address == "auto":
        return  # Ray finds the local cluster itself and says so at once when there is none
    if address.startswith("ray://"):
        # Under Ray Client, Tune runs the Tuner (and so our searcher and scheduler) as an actor on the head
        # node, away from this driver's heartbeat and progress: trials end up FAIL without a reason.
        raise SnnasError("--address ray://... (Ray Client) is not supported: run the search on the cluster "
                         "instead, e.g. `ray job submit --address http://HEAD:8265 -- snnas search ... --backend ray "
                         "--address auto`, or attach from a cluster node with --address HEAD_IP:6379")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SnnasError(f"--address must be auto or host:port (the GCS address), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise SnnasError(f"nothing answers at --address {address} ({e.strerror or e}); start a cluster with "
                         "`ray start --head` or check the address") from None



class RayRunner:
    """Starts (or attaches to) Ray, runs the Tuner in a thread; ``alive()`` and ``finish()`` like workers."""

    def __init__(self, opts: SearchOptions, space: SearchSpace, study: optuna.Study,
                 deadline: float | None = None) -> None:
        self.opts, self.space, self.study = opts, space, study
        self.started_here = opts.address is None
        if not self.started_here:
            check_address(opts.address)
            _use_token_if_present()  # before Ray is imported: it reads the mode once
        self.ray = _import_ray()
        self.error: BaseException | None = None
        self.resources = self._connect()
        gpus = self.resources.get("GPU", 0.0)
        self.gpus_per_trial = opts.gpus_per_trial if opts.gpus_per_trial is not None else (
            DEFAULT_GPU_SHARE if gpus else 0.0)
        if self.gpus_per_trial and self.gpus_per_trial > gpus:
            self.close()
            raise SnnasError(f"--gpus-per-trial {self.gpus_per_trial} but the Ray cluster has {gpus:g} GPU(s)")
        if opts.cpus_per_trial > self.resources.get("CPU", 0.0):
            self.close()
            raise SnnasError(f"--cpus-per-trial {opts.cpus_per_trial:g} but the Ray cluster has "
                             f"{self.resources.get('CPU', 0.0):g} CPU(s)")
        fit = int(self.resources.get("CPU", 0) // opts.cpus_per_trial)
        if self.gpus_per_trial:
            fit = min(fit, int(gpus // self.gpus_per_trial))
        self.max_concurrent = max(1, opts.max_concurrent or fit)
        self.searcher = StudySearcher(study, space, opts, deadline)
        self.scheduler = ParetoHalving(self.searcher, space, opts.prune)
        self._thread = threading.Thread(target=self._fit, daemon=True, name="ray-tune")
        self._heartbeat = Heartbeat(study._storage, self.searcher.held)

    def describe(self) -> str:
        where = "a local Ray instance" if self.started_here else f"the Ray cluster at {self.opts.address}"
        return (f"Ray backend on {where} ({self.resources.get('CPU', 0):g} CPUs, {self.resources.get('GPU', 0):g} "
                f"GPUs): {self.opts.cpus_per_trial:g} CPU + {self.gpus_per_trial:g} GPU per trial, "
                f"at most {self.max_concurrent} at once")

    def _connect(self) -> dict[str, float]:
        ray = self.ray
        kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": True, "logging_level": "ERROR"}
        try:
            if self.started_here:
                # Ray's own token authentication stays on: its gRPC ports listen on every interface (Ray
                # resolves 127.0.0.1 to the host's address), so the token is what keeps other hosts out.
                # address="local": a new instance even when RAY_ADDRESS or a `ray start` cluster exists.
                ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                         object_store_memory=256 * 2**20, **kwargs)
            else:
                ray.init(address=self.opts.address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            where = self.opts.address or "a new local instance"
            raise SnnasError(f"cannot connect to Ray at {where}: {first}") from None
        return {k: float(v) for k, v in ray.cluster_resources().items()}

    def start(self) -> None:
        self._heartbeat.__enter__()
        self._thread.start()

    def _fit(self) -> None:
        from ray import tune

        opts = self.opts
        job = _Job(self.space, opts.dataset, str(Path(opts.data_dir).resolve()) if opts.data_dir else None,
                   opts.seed, opts.device, max(1, math.ceil(opts.cpus_per_trial)), opts.compile_neurons == "on")
        trainable = tune.with_resources(tune.with_parameters(run_trial, job=job),
                                        {"cpu": opts.cpus_per_trial, "gpu": self.gpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=self.searcher, scheduler=self.scheduler, num_samples=-1,
                                        max_concurrent_trials=self.max_concurrent, reuse_actors=True),
            run_config=tune.RunConfig(name=f"{opts.study}-{time.strftime('%Y%m%d-%H%M%S')}",
                                      storage_path=str((Path(opts.studies_dir) / "ray").resolve()), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
        )
        try:
            tuner.fit()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e

    def alive(self) -> bool:
        return self._thread.is_alive()

    def finish(self) -> None:
        self._thread.join()
        self._heartbeat.__exit__()
        self.close()
        if self.error is not None:
            raise SnnasError(f"Ray Tune stopped: {str(self.error).strip().splitlines()[0]}; finished trials are "
                             "kept, re-run the same command to resume")
        if self.searcher.failures:
            raise SnnasError("; ".join(self.searcher.failures))

    def abort(self) -> None:
        """Stop now (Ctrl-C): disconnecting ends this driver's trials; they go stale and re-run on resume."""
        self._heartbeat.__exit__()
        self.close()

    def close(self) -> None:
        """Disconnect; a local instance started here is shut down, an existing cluster keeps running."""
        if self.ray.is_initialized():
            self.ray.shutdown()
