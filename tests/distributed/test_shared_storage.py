"""One study on a real PostgreSQL server (or MariaDB, or a shared journal file), searched from several test hosts.

The hosts are network namespaces (``tests/_hosts.py``); the server runs on host 1. Every search runs as the
README's ``snnas search`` command on another host, in a working folder of its own, so the only thing the hosts
share is the storage: the budget must hold through the storage's own lock, not a local file lock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.errors import SnnasError
from snnas.search import _storage
from snnas.search._locks import study_lock
from snnas.search._storage import db_url, open_storage
from tests.reliability._checks import check_study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
STUDY = "edge_tiny-fashion-mini"


def search_argv(url: str, budget: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", str(budget), "--quiet",
            "--threads", "1", "--storage", url, *extra]


def host_folder(tmp_path: Path, i: int) -> Path:
    folder = tmp_path / f"h{i}"
    folder.mkdir(exist_ok=True)
    return folder


def test_a_plain_postgresql_url_names_psycopg3_and_a_missing_driver_says_what_to_install(monkeypatch):
    assert db_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"  # psycopg2 is not installed
    assert db_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"  # an explicit driver is kept
    monkeypatch.setattr(_storage, "_installed", lambda module: False)
    with pytest.raises(SnnasError, match=r"pip install 'snnas\[postgresql\]'"):
        open_storage("postgresql://u@h/db")


def test_the_readme_postgresql_command_searches_and_another_host_reports(pg, hosts, tmp_path):
    url = pg.create_db("readme")
    r = hosts.run(2, search_argv(url, 3), cwd=host_folder(tmp_path, 2), timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "Pareto front:" in r.stdout
    # another host reads the study from the server (the report, as a user on a second machine would)
    r = hosts.run(3, [sys.executable, "-m", "snnas", "report", STUDY, "--storage", url, "--no-png"],
                  cwd=host_folder(tmp_path, 3), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "h3" / "reports" / STUDY / "index.html").is_file()
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    check_study(study, 3)
    assert {t.user_attrs["host"] for t in study.trials} == {"h2"}


@pytest.mark.parametrize("server", ["pg", "mysql"])
def test_the_server_lock_excludes_other_connections_and_dies_with_its_host(server, request, hosts):
    """PostgreSQL's advisory lock and MariaDB's named lock (``mysql://``)."""
    url = request.getfixturevalue(server).create_db("locks")
    order: list[str] = []
    with study_lock(url, "studies", "s"):
        t = threading.Thread(target=lambda: (study_lock(url, "studies", "s").__enter__(), order.append("second")))
        t.start()
        time.sleep(1.0)
        order.append("first released")
    t.join(30)
    assert order == ["first released", "second"]
    # another host takes the lock and is SIGKILLed holding it: the server frees it with the session
    holder = hosts.popen(2, [sys.executable, "-c", "import sys, time\nfrom snnas.search._locks import study_lock\n"
                             f"with study_lock({url!r}, 'studies', 'other'):\n print('held', flush=True)\n"
                             " time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (study_lock(url, "studies", "other").__enter__(), got.set()),
                              daemon=True)
    waiter.start()
    assert not got.wait(2.0)  # held by host 2
    assert hosts.kill(2) >= 1
    assert got.wait(20.0)  # freed when host 2's connection died


@pytest.mark.slow  # three hosts' searches; run by .ci/run (pytest -m slow)
@pytest.mark.parametrize("kind", ["postgresql", "mysql", "journal"])
def test_three_hosts_on_one_study_finish_exactly_the_budget(kind, request, hosts, tmp_path):
    """On a PostgreSQL server, a MariaDB server (``mysql://``), and a journal file all hosts see (as on NFS)."""
    if kind in ("postgresql", "mysql"):
        url = request.getfixturevalue({"postgresql": "pg", "mysql": "mysql"}[kind]).create_db("three")
    else:
        url = f"journal:///{tmp_path / 'shared' / 'study.log'}"
    budget = 7  # edge_tiny has 8 architectures
    procs = [hosts.popen(i, search_argv(url, budget), cwd=host_folder(tmp_path, i), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True) for i in (2, 3, 4)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
        assert "Pareto front:" in out
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    counts = check_study(study, budget)  # exactly the budget, nothing counted twice, nothing left running
    assert counts["interrupted"] == 0
    trained = [t for t in study.trials if "duplicate_of" not in t.user_attrs and t.state != TrialState.FAIL]
    assert len({t.user_attrs["host"] for t in trained}) >= 2  # the hosts really shared the work
    assert study.user_attrs["sampler_streams"] == 3  # each host sampled its own stream
    assert not list(tmp_path.glob("**/.*.lock"))  # no host used a local file lock; the claim locks were released


@pytest.mark.slow  # hosts killed mid-search; run by .ci/run (pytest -m slow)
def test_a_host_killed_mid_search_is_resumed_from_another_host(pg, hosts, tmp_path):
    url, budget = pg.create_db("killed"), 8
    victim = hosts.popen(2, search_argv(url, budget), cwd=host_folder(tmp_path, 2), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    other = hosts.popen(3, search_argv(url, budget), cwd=host_folder(tmp_path, 3), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # the hosts create the schema and the study (under the study lock); then we watch
    storage = open_storage(url)
    deadline = time.time() + 600
    while True:  # kill host 2 while it trains a trial, after the study has some finished ones
        assert time.time() < deadline and victim.poll() is None, "host 2 never ran a trial past the first finish"
        try:
            trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
        except KeyError:  # not created yet
            time.sleep(0.3)
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("host") == "h2"
                   and t.user_attrs.get("arch_id")]
        if running and sum(t.state.is_finished() for t in trials) >= 2:
            break
        time.sleep(0.3)
    assert hosts.kill(2) >= 1
    victim.wait(30)
    # the same command re-run on another host while host 3 goes on
    rerun = hosts.popen(4, search_argv(url, budget), cwd=host_folder(tmp_path, 4), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    for p in (other, rerun):
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    study = optuna.load_study(study_name=STUDY, storage=storage)
    counts = check_study(study, budget)  # every interrupted trial re-run once, with its parameters and seed
    assert counts["interrupted"] >= 1 and counts["rerun"] >= 1, counts
    killed = {t.number for t in study.trials if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs}
    reruns = [t for t in study.trials if t.user_attrs.get("retry_of") in killed]
    assert reruns and {t.user_attrs["host"] for t in reruns} <= {"h3", "h4"}
