"""The Ray backend on a real three-node Ray cluster across test hosts (network namespaces, ``tests/_hosts.py``).

``ray start --head`` runs on host 1 (beside the PostgreSQL server), ``ray start --address`` joins hosts 2 and
3, each node with one CPU and a Ray temp folder of its own; every study is on the PostgreSQL server. The
cluster is started once for the module and the tests run in file order: a search from a driver on the head,
a ``ray job submit`` from host 4 (which is not a Ray node: what a laptop does against a remote cluster), and
last the kill of host 2's whole node mid-search, which leaves the cluster with two nodes.

Ray's token authentication stays on, as it is by default in Ray 2.60: the module makes a token of its own
(``RAY_AUTH_TOKEN_PATH``, the same file for every host as a copied token would be), and every ``ray`` command
runs with ``RAY_AUTH_MODE=token``. The head would turn token mode on by itself when a token exists, but
``ray start --address`` (a joining node), ``ray job submit`` and ``ray list`` do not: with the mode unset they
send no token and are refused. The ``snnas search`` driver gets the token path only, without the mode, so it
is snnas that turns token mode on when it finds the token.

What the test hosts share and real machines would not: the file system and the process table. Ray 2.60 finds
"the local raylet" of a driver through the process table (``ps``), so a driver on host 4 would attach to host
1's raylet through its socket file and advertise host 1's address; real machines have no such shortcut, and a
driver has to run on a node, which is why the search runs on the head and host 4 submits a job.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.search import counts_toward_budget, load_space
from snnas.search._storage import open_storage
from tests._hosts import Hosts
from tests.reliability._checks import check_study

pytestmark = [pytest.mark.slow,  # a real cluster on three hosts; run by .ci/run (pytest -m slow)
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

RAY = str(Path(sys.executable).parent / "ray")
GCS_PORT, DASHBOARD_PORT = 6379, 8265
# Every host has a network stack of its own, so the same fixed ports serve on each and nothing else is there.
NODE_PORTS = ["--node-manager-port", "7001", "--object-manager-port", "7002", "--runtime-env-agent-port", "7003",
              "--metrics-export-port", "7004", "--dashboard-agent-grpc-port", "7005",
              "--dashboard-agent-listen-port", "7006", "--min-worker-port", "7020", "--max-worker-port", "7119"]
NODE = ["--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats", *NODE_PORTS]


@dataclass
class Cluster:
    hosts: Hosts
    address: str  # the GCS host:port, for --address
    dashboard: str  # the dashboard's URL, for ray job submit
    ray_env: dict[str, str]  # for `ray` commands: the token and RAY_AUTH_MODE=token
    driver_env: dict[str, str]  # for `snnas search`: the token only
    head_dir: Path  # where `ray start --head` runs: a job's working folder

    def ray(self, i: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.hosts.run(i, [RAY, *args], env=self.ray_env, timeout=timeout)

    def alive_nodes(self) -> list[str]:
        """The addresses of the cluster's alive nodes, as the head's dashboard tells host 4."""
        r = self.ray(4, "list", "nodes", "--address", self.dashboard, "--format", "json", "--filter",
                     "state=ALIVE")
        assert r.returncode == 0, r.stderr[-3000:]
        return sorted(n["node_ip"] for n in json.loads(r.stdout))


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cluster(hosts, pg, tmp_path_factory) -> Iterator[Cluster]:
    import ray._private.utils

    if (why := ray._private.utils.get_dashboard_dependency_error()) is not None:
        pytest.skip(f"the Ray dashboard (ray job submit) needs ray[default]: {why}")
    folder = tmp_path_factory.mktemp("ray-hosts")
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    base = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    driver_env = {**base, "RAY_AUTH_TOKEN_PATH": str(token)}
    ray_env = {**driver_env, "RAY_AUTH_MODE": "token"}
    # Each node its own Ray temp folder (short: Ray's socket paths live under it). Without one a joining node
    # uses the head's, shared here through the file system: Ray copes (raylet.1, plasma_store.1 sockets beside
    # the head's), but the nodes' logs end up mixed in one session folder.
    temp = Path(tempfile.mkdtemp(prefix="snr-"))
    head_dir = folder / "head"
    head_dir.mkdir()
    a1 = hosts.addr(1)
    procs: list[subprocess.Popen] = []
    logs = {i: folder / f"ray_start_h{i}.log" for i in (1, 2, 3)}

    def start(i: int, argv: list[str], cwd: Path) -> None:
        with open(logs[i], "w") as out:
            procs.append(hosts.popen(i, argv, env=ray_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT))

    def started(i: int, proc: subprocess.Popen, deadline: float) -> None:
        while "Ray runtime started" not in logs[i].read_text():
            assert proc.poll() is None and time.time() < deadline, logs[i].read_text()[-3000:]
            time.sleep(0.5)

    try:
        start(1, [RAY, "start", "--head", "--block", "--node-ip-address", a1, "--port", str(GCS_PORT),
                  "--include-dashboard", "true", "--dashboard-host", a1, "--dashboard-port", str(DASHBOARD_PORT),
                  "--temp-dir", str(temp / "h1"), *NODE], head_dir)
        started(1, procs[0], time.time() + 120)
        for i in (2, 3):
            node_dir = folder / f"h{i}"
            node_dir.mkdir()
            start(i, [RAY, "start", "--block", "--address", f"{a1}:{GCS_PORT}", "--node-ip-address", hosts.addr(i),
                      "--temp-dir", str(temp / f"h{i}"), *NODE], node_dir)
        for i, proc in zip((2, 3), procs[1:], strict=True):
            started(i, proc, time.time() + 120)
        made = Cluster(hosts, f"{a1}:{GCS_PORT}", f"http://{a1}:{DASHBOARD_PORT}", ray_env, driver_env, head_dir)
        deadline = time.time() + 120
        while (alive := made.alive_nodes()) != [hosts.addr(i) for i in (1, 2, 3)]:
            assert time.time() < deadline, f"alive nodes: {alive}"
            time.sleep(1)
        yield made
    finally:
        for proc in reversed(procs):
            _stop(proc)
        hosts.kill(2)
        hosts.kill(3)
        hosts.kill(1, uid=0)  # what Ray left on the head; the session's PostgreSQL server (user postgres) stays
        shutil.rmtree(temp, ignore_errors=True)


def search_argv(cluster: Cluster, space: str, budget: int, study: str, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snnas", "search", "--space", space, "--budget", str(budget), "--quiet",
            "--study", study, "--backend", "ray", "--address", cluster.address, "--storage", url, *extra]


def slow_space(folder: Path) -> str:
    """edge_tiny with a longer last rung (3 epochs on all the training images): a trial trains for long enough
    that every node gets trials, and that a node can be killed while it trains one."""
    text = Path(load_space("edge_tiny").source).read_text().replace('name = "edge_tiny"', 'name = "slow"')
    text = text.replace("{ epochs = 2, fraction = 0.2 }", "{ epochs = 3, fraction = 1.0 }")
    path = folder / "slow.toml"
    path.write_text(text)
    return str(path)


def trained_hosts(study: optuna.Study) -> set[str]:
    return {t.user_attrs["host"] for t in study.trials if "host" in t.user_attrs}


def test_the_cluster_has_three_nodes_on_three_hosts_and_token_auth_on(cluster):
    assert cluster.alive_nodes() == [cluster.hosts.addr(i) for i in (1, 2, 3)]
    # the head checks the token: host 4 with another token is refused
    wrong = cluster.head_dir / "wrong_token"
    wrong.write_text(secrets.token_hex(32))
    env = {**cluster.ray_env, "RAY_AUTH_TOKEN_PATH": str(wrong)}
    r = cluster.hosts.run(4, [RAY, "list", "nodes", "--address", cluster.dashboard, "--format", "json"], env=env,
                          timeout=120)
    assert r.returncode != 0 and "token" in (r.stdout + r.stderr).lower(), (r.stdout + r.stderr)[-3000:]


def test_a_search_on_the_cluster_runs_trials_on_several_nodes(cluster, pg, tmp_path):
    url, budget = pg.create_db("rayhosts_search"), 6
    r = cluster.hosts.run(1, search_argv(cluster, slow_space(tmp_path), budget, "hosts", url), cwd=tmp_path,
                          env=cluster.driver_env, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert f"the Ray cluster at {cluster.address} (3 CPUs" in r.stdout and "at most 3 at once" in r.stdout
    assert "Pareto front:" in r.stdout
    study = optuna.load_study(study_name="hosts", storage=open_storage(url))
    counts = check_study(study, budget)
    assert counts["interrupted"] == 0
    assert {t.user_attrs["backend"] for t in study.trials} == {"ray"}
    hosts = trained_hosts(study)  # socket.gethostname() of the Ray worker that trained the trial
    assert hosts <= {"h1", "h2", "h3"} and len(hosts) >= 2, hosts


def test_ray_job_submit_from_a_machine_off_the_cluster_runs_the_search_on_it(cluster, pg):
    url, budget = pg.create_db("rayhosts_job"), 4
    # Host 4 runs no Ray node: it reaches only the head's dashboard over HTTP, as a laptop would. The job's
    # driver runs on the head, in the folder `ray start --head` was started in; `--address auto` finds the
    # cluster through the RAY_ADDRESS the job is given.
    entry = [sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", str(budget), "--quiet",
             "--study", "job", "--backend", "ray", "--address", "auto", "--storage", url]
    r = cluster.ray(4, "job", "submit", "--address", cluster.dashboard, "--", *entry, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Job 'raysubmit_" in out and "succeeded" in out, out[-3000:]
    assert "Ray backend on the Ray cluster at auto (3 CPUs" in out and "Pareto front:" in out, out[-3000:]
    study = optuna.load_study(study_name="job", storage=open_storage(url))
    check_study(study, budget)
    assert trained_hosts(study) <= {"h1", "h2", "h3"}
    assert (cluster.head_dir / "reports" / "job" / "pareto.csv").is_file()  # relative paths: the head's folder
    # the job is still on record: `ray job logs` from host 4 gives the search's output
    job_id = out.split("Job '", 1)[1].split("'", 1)[0]
    logs = cluster.ray(4, "job", "logs", job_id, "--address", cluster.dashboard)
    assert logs.returncode == 0 and "Pareto front:" in logs.stdout, logs.stderr[-3000:]


def test_a_worker_node_killed_mid_search_fails_its_trial_and_the_rest_finish_the_budget(cluster, pg, tmp_path):
    """Last in the module: host 2's node is gone after it."""
    url, budget = pg.create_db("rayhosts_kill"), 5
    proc = cluster.hosts.popen(1, search_argv(cluster, slow_space(tmp_path), budget, "kill", url, "--no-prune"),
                               cwd=tmp_path, env=cluster.driver_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    storage = open_storage(url)
    victim, before = None, []
    deadline = time.time() + 300
    while victim is None:  # kill host 2 while it trains a trial (it has reported rung 0 and trains the last)
        assert time.time() < deadline and proc.poll() is None, "no trial ever ran on host 2"
        time.sleep(0.3)
        try:
            before = optuna.load_study(study_name="kill", storage=storage).get_trials(deepcopy=False)
        except KeyError:  # the driver has not made the study yet
            continue
        victim = next((t for t in before if t.state == TrialState.RUNNING and t.user_attrs.get("host") == "h2"), None)
    assert cluster.hosts.kill(2) >= 1  # the raylet, its workers, the node's agents: SIGKILL
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name="kill", storage=storage)
    check_study(study, budget, failed_ok=True)  # exactly the budget, nothing left running
    dead = study.trials[victim.number]
    assert dead.state == TrialState.FAIL and dead.user_attrs["fail_reason"].startswith("Ray worker failed"), \
        dead.user_attrs
    assert f"trial {victim.number} FAIL" in out
    failed = [t for t in study.trials if t.state == TrialState.FAIL and "fail_reason" in t.user_attrs]
    assert all(t.user_attrs.get("host") in (None, "h2") for t in failed), [t.user_attrs for t in failed]
    # the search went on without host 2: what finished after the kill trained on hosts 1 and 3
    done_before = {t.number for t in before if t.state.is_finished()}
    after = [t for t in study.trials if t.number not in done_before and t.state != TrialState.FAIL
             and counts_toward_budget(t)]
    assert after and all(t.user_attrs.get("host") in ("h1", "h3") for t in after if "host" in t.user_attrs), \
        [(t.number, t.user_attrs.get("host")) for t in after]
    assert sum(counts_toward_budget(t) for t in before) < budget
    deadline = time.time() + 60
    while (alive := cluster.alive_nodes()) != [cluster.hosts.addr(1), cluster.hosts.addr(3)]:  # node 2 marked dead
        assert time.time() < deadline, f"alive nodes: {alive}"
        time.sleep(1)
