"""The Ray Tune backend against a real Ray cluster started with ``ray start --head`` on 127.0.0.1.

The cluster is started once for the module by the process this file launches (``ray start --block``) on a
fixed block of ports, and stopped by signalling that process. Every search runs as a real ``snnas`` process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from snnas.cli import app
from snnas.errors import SnnasError
from snnas.search import TrialRecord, counts_toward_budget, load_space
from tests.search import load, peek

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

RAY = str(Path(sys.executable).parent / "ray")


def snnas(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _free_block(size: int) -> int:
    """The first base port of ``size`` consecutive ports that nothing listens on."""
    for base in range(46300, 60000, 500):
        if all(_free(p) for p in range(base, base + size)):
            return base
    raise RuntimeError("no free block of ports for the test cluster")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[str]:
    """``ray start --head`` on 127.0.0.1 with 2 CPUs and every port fixed inside one small block."""
    base = _free_block(120)
    log = tmp_path_factory.mktemp("ray") / "ray_start.log"
    ports = ["--port", base, "--node-manager-port", base + 1, "--object-manager-port", base + 2,
             "--runtime-env-agent-port", base + 3, "--metrics-export-port", base + 4,
             "--dashboard-agent-grpc-port", base + 5, "--dashboard-agent-listen-port", base + 6,
             "--min-worker-port", base + 20, "--max-worker-port", base + 119]
    cmd = [RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
           "--include-dashboard", "false", "--object-store-memory", str(200 * 2**20), "--disable-usage-stats",
           *map(str, ports)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text():
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{base}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _check_honest(study: optuna.Study, budget: int) -> list[optuna.trial.FrozenTrial]:
    """Exactly ``budget`` finished trials; COMPLETE only at full fidelity; the front only of those."""
    trials = study.get_trials()
    last = f"rung{len(load_space('edge_tiny').rungs) - 1}"
    assert sum(counts_toward_budget(t) for t in trials) == budget
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert last in t.user_attrs, f"trial {t.number} is COMPLETE without its last rung"
            assert t.values[0] == pytest.approx(t.user_attrs[last]["val_accuracy"])
            assert TrialRecord.of(t).energy_report["total_uj"] == pytest.approx(t.values[1])
        elif t.state == TrialState.PRUNED:
            assert last not in t.user_attrs and t.user_attrs["prune_reason"].startswith("rung 0")
    assert all(t.state == TrialState.COMPLETE and last in t.user_attrs for t in study.best_trials)
    return trials


def test_search_on_a_started_cluster_matches_the_optuna_backend(cluster, tmp_path):
    t0 = time.perf_counter()
    r = snnas(tmp_path, "search", "--space", "edge_tiny", "--budget", "6", "--quiet", "--study", "ray",
              "--backend", "ray", "--address", cluster)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"the Ray cluster at {cluster}" in r.stdout and "2 CPUs" in r.stdout
    ray_trials = _check_honest(load(tmp_path, "ray"), 6)
    assert {t.user_attrs["backend"] for t in ray_trials} == {"ray"}
    assert all(t.user_attrs["pid"] != os.getpid() and t.user_attrs["device"] == "cpu" for t in ray_trials
               if "duplicate_of" not in t.user_attrs)  # a duplicate took a stored result in the driver

    r = snnas(tmp_path, "search", "--space", "edge_tiny", "--budget", "6", "--quiet", "--study", "optuna")
    assert r.returncode == 0, r.stderr[-3000:]
    opt_trials = _check_honest(load(tmp_path, "optuna"), 6)
    print(f"edge_tiny, 6 trials on the started cluster: {wall:.1f} s wall")

    # Same sampler, same seed: the same architectures are proposed in the same order, with the same seeds,
    # and trained the same way (CPU training is deterministic up to the thread count).
    # A proposal is a duplicate only if its architecture finished first, which depends on timing when two trials
    # run at once: one study may hold a few more (uncounted) duplicates, so the proposals agree up to the shorter.
    n = min(len(ray_trials), len(opt_trials))
    assert [t.params for t in ray_trials[:n]] == [t.params for t in opt_trials[:n]]
    assert [t.user_attrs["seed"] for t in ray_trials[:n]] == [t.user_attrs["seed"] for t in opt_trials[:n]]
    for a, b in zip(ray_trials[:n], opt_trials[:n], strict=True):
        if "duplicate_of" in a.user_attrs or "duplicate_of" in b.user_attrs:
            continue
        assert a.user_attrs["rung0"]["val_accuracy"] == pytest.approx(b.user_attrs["rung0"]["val_accuracy"], abs=0.03)
    # The same attributes, state by state, whichever backend recorded the trial.
    for state in (TrialState.COMPLETE, TrialState.PRUNED):
        keys = {frozenset(t.user_attrs) for t in ray_trials + opt_trials
                if t.state == state and "duplicate_of" not in t.user_attrs}
        assert len(keys) <= 1, f"{state.name} trials differ in attributes: {keys}"
    # The cluster was attached to, not owned: it is still up.
    with socket.create_connection(("127.0.0.1", int(cluster.rsplit(":", 1)[1])), timeout=5):
        pass


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_driver_killed_mid_search_resumes_to_exactly_the_budget(cluster, tmp_path):
    cmd = [sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "4", "--quiet",
           "--study", "killed", "--no-prune", "--backend", "ray", "--address", cluster]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victims: list[optuna.trial.FrozenTrial] = []
    deadline = time.time() + 300
    while not victims and time.time() < deadline:  # kill the driver once a trial finished and others run
        time.sleep(0.3)
        study = peek(tmp_path, "killed")
        if study is not None:
            trials = study.get_trials()
            if any(t.state == TrialState.COMPLETE for t in trials):
                victims = [t for t in trials if t.state == TrialState.RUNNING]
    assert victims, "the search never had a finished and a running trial at once"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    victims = [t for t in load(tmp_path, "killed").get_trials() if t.state == TrialState.RUNNING]
    assert victims, "every trial finished before the driver died"

    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    trials = load(tmp_path, "killed").get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == 4
    for v in victims:
        assert trials[v.number].state == TrialState.FAIL and "fail_reason" not in trials[v.number].user_attrs
        retry = [t for t in trials if t.user_attrs.get("retry_of") == v.number]
        if not v.params:  # killed between claiming the slot and sampling: nothing to re-run, slot sampled afresh
            assert retry == []
            continue
        # a victim killed between two of its knobs had only the first ones: the re-run keeps them, samples the rest
        assert len(retry) == 1 and v.params.items() <= retry[0].params.items()
        assert retry[0].user_attrs["seed"] == v.user_attrs["seed"] and retry[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_a_dead_worker_fails_its_trial_with_a_reason_and_the_search_goes_on(tmp_path):
    """On a local instance (no --address): snnas starts Ray itself and shuts it down at the end."""
    # A slower last rung (3 epochs on all the training images), so the worker can be killed while it trains.
    text = Path(load_space("edge_tiny").source).read_text().replace('name = "edge_tiny"', 'name = "slow"')
    text = text.replace("{ epochs = 2, fraction = 0.2 }", "{ epochs = 3, fraction = 1.0 }")
    space = tmp_path / "slow.toml"
    space.write_text(text)
    cmd = [sys.executable, "-m", "snnas", "search", "--space", str(space), "--budget", "2", "--quiet",
           "--study", "dead", "--no-prune", "--backend", "ray", "--max-concurrent", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        study = peek(tmp_path, "dead")
        if study is not None:
            trials = study.get_trials()
            victim = next((t for t in trials if t.state == TrialState.RUNNING and "rung0" in t.user_attrs), None)
    assert victim is not None, proc.communicate()[1][-3000:]
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)  # the Ray worker process training the trial
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    trials = load(tmp_path, "dead").get_trials()
    dead = trials[victim.number]
    assert dead.state == TrialState.FAIL and "Ray worker failed" in dead.user_attrs["fail_reason"]
    assert sum(counts_toward_budget(t) for t in trials) == 2  # the failure counts; the search went on
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 1
    assert f"trial {victim.number} FAIL" in out and "a local Ray instance" in out and "at most 1 at once" in out


@pytest.mark.parametrize("args, message", [
    (["--backend", "ray", "--workers", "2"], "--workers is for the optuna backend"),
    (["--address", "auto"], "--address need --backend ray"),
    (["--backend", "ray", "--address", "nonsense"], "--address must be auto or host:port"),
    (["--backend", "ray", "--address", "ray://127.0.0.1:10001"], "(Ray Client) is not supported"),
    (["--backend", "spark"], "unknown backend 'spark'"),
])
def test_bad_ray_options_are_refused_before_any_work(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["search", "--space", "edge_tiny", "--budget", "2", *args])
    assert isinstance(result.exception, SnnasError) and message in str(result.exception)
    assert not (tmp_path / "studies").exists()  # refused before a study was created


def test_nothing_at_the_address_is_a_one_line_error_in_seconds(tmp_path):
    t0 = time.perf_counter()
    r = snnas(tmp_path, "search", "--space", "edge_tiny", "--budget", "2", "--backend", "ray", "--address",
              "127.0.0.1:1", timeout=120)
    print(f"refused address reported after {time.perf_counter() - t0:.1f} s")
    assert r.returncode == 2 and "nothing answers at --address 127.0.0.1:1" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
