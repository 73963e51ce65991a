"""The Ray Tune backend's run: start or attach to a cluster, run the Tuner beside the progress view, shut down.

What a trial does and how the study records it is :mod:`snnas.search._ray` (searcher, scheduler, the trial
function); this module only places the search on a cluster: ``--address`` (auto or the GCS host:port of a
``ray start`` cluster) or a local instance started for this search, the resources per trial, and Ctrl-C.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import optuna

from snnas.errors import SnnasError
from snnas.search._options import SearchOptions
from snnas.search._ray import Job, ParetoHalving, RunStopper, StudySearcher, run_trial
from snnas.search._study import Heartbeat
from snnas.search.space import SearchSpace

__all__ = ["DEFAULT_GPU_SHARE", "RayRunner", "check_address"]

DEFAULT_GPU_SHARE = 0.25  # small proxy trials: four share one GPU unless told otherwise
RAY_STOP_S = 3.0  # how long Ctrl-C waits for Tune to stop its trials before leaving Ray to the exit


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
        self.started_here = opts.ray.address is None
        if not self.started_here:
            check_address(opts.ray.address)
            _use_token_if_present()  # before Ray is imported: it reads the mode once
        self.ray = _import_ray()
        self.error: BaseException | None = None
        self.resources = self._connect()
        gpus = self.resources.get("GPU", 0.0)
        self.gpus_per_trial = opts.ray.gpus_per_trial if opts.ray.gpus_per_trial is not None else (
            DEFAULT_GPU_SHARE if gpus else 0.0)
        if self.gpus_per_trial and self.gpus_per_trial > gpus:
            self.close()
            raise SnnasError(f"--gpus-per-trial {self.gpus_per_trial} but the Ray cluster has {gpus:g} GPU(s)")
        if opts.ray.cpus_per_trial > self.resources.get("CPU", 0.0):
            self.close()
            raise SnnasError(f"--cpus-per-trial {opts.ray.cpus_per_trial:g} but the Ray cluster has "
                             f"{self.resources.get('CPU', 0.0):g} CPU(s)")
        fit = int(self.resources.get("CPU", 0) // opts.ray.cpus_per_trial)
        if self.gpus_per_trial:
            fit = min(fit, int(gpus // self.gpus_per_trial))
        self.max_concurrent = max(1, opts.ray.max_concurrent or fit)
        self.searcher = StudySearcher(study, space, opts, deadline)
        self.scheduler = ParetoHalving(self.searcher)
        self._thread = threading.Thread(target=self._fit, daemon=True, name="ray-tune")
        self._heartbeat = Heartbeat(study._storage, self.searcher.held)

    def describe(self) -> str:
        where = "a local Ray instance" if self.started_here else f"the Ray cluster at {self.opts.ray.address}"
        return (f"Ray backend on {where} ({self.resources.get('CPU', 0):g} CPUs, {self.resources.get('GPU', 0):g} "
                f"GPUs): {self.opts.ray.cpus_per_trial:g} CPU + {self.gpus_per_trial:g} GPU per trial, "
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
                ray.init(address=self.opts.ray.address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            where = self.opts.ray.address or "a new local instance"
            raise SnnasError(f"cannot connect to Ray at {where}: {first}") from None
        return {k: float(v) for k, v in ray.cluster_resources().items()}

    def start(self) -> None:
        self._heartbeat.__enter__()
        self._thread.start()

    def _fit(self) -> None:
        from ray import tune

        opts = self.opts
        job = Job(self.space, opts.dataset, str(Path(opts.data_dir).resolve()) if opts.data_dir else None,
                   opts.seed, opts.device, max(1, math.ceil(opts.ray.cpus_per_trial)), opts.compile_neurons == "on")
        try:  # building the Tuner pickles the searcher: a failure there must reach the user too, not end quietly
            trainable = tune.with_resources(tune.with_parameters(run_trial, job=job),
                                            {"cpu": opts.ray.cpus_per_trial, "gpu": self.gpus_per_trial})
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=self.searcher, scheduler=self.scheduler, num_samples=-1,
                                            max_concurrent_trials=self.max_concurrent, reuse_actors=True),
                run_config=tune.RunConfig(name=f"{opts.study}-{time.strftime('%Y%m%d-%H%M%S')}",
                                          stop=RunStopper(self.searcher),
                                          storage_path=str((Path(opts.studies_dir) / "ray").resolve()), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
            )
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
        """Stop now (Ctrl-C); :meth:`held` then says which trials to end as interrupted.

        Tune is told to stop (no new trial, the running ones stopped) and given ``RAY_STOP_S`` to end. Ray is
        shut down only once Tune's thread has ended: a thread that touches Ray after ``ray.shutdown()`` makes
        Ray end the whole process at once, with exit code 1 ("The core worker has already been shutdown", seen
        with Ctrl-C right after a trial started). If Tune takes longer, Ray is left to the process's exit,
        which the CLI makes at once: a local instance's processes die with it (Ray binds them to their
        parent), and a cluster ends the job of a driver that is gone, its trials with it.
        """
        self.searcher.stop()
        self._thread.join(RAY_STOP_S)
        self._heartbeat.__exit__()
        if not self._thread.is_alive():
            self.close()

    def held(self, study: optuna.Study) -> list[int]:
        """Storage ids of the trials this driver held (their Ray workers are gone once it disconnected)."""
        return self.searcher.held()

    def close(self) -> None:
        """Disconnect; a local instance started here is shut down, an existing cluster keeps running."""
        if self.ray.is_initialized():
            self.ray.shutdown()
