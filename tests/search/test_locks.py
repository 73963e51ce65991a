"""The study lock on each storage: it excludes, it survives a long hold, and a dead holder frees it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from snnas.search import _locks
from snnas.search._locks import lock_path, study_lock


def _contend(url: str, tmp_path, hold_s: float) -> list[str]:
    """Thread A holds the lock ``hold_s`` seconds; B asks for it meanwhile; the order things happened."""
    order: list[str] = []
    a_holds = threading.Event()

    def a() -> None:
        with study_lock(url, tmp_path, "s"):
            a_holds.set()
            time.sleep(hold_s)
            order.append("a released")

    def b() -> None:
        a_holds.wait()
        with study_lock(url, tmp_path, "s"):
            order.append("b holds")

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return order


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_the_lock_excludes_and_is_reusable(scheme, tmp_path):
    url = f"{scheme}:///{tmp_path / 'study.file'}"
    assert _contend(url, tmp_path, 0.5) == ["a released", "b holds"]
    lock = study_lock(url, tmp_path, "s")
    for _ in range(3):  # one lock object serves every claim of a worker
        with lock:
            pass


def test_sqlite_keeps_its_file_lock_beside_the_database(tmp_path):
    assert lock_path(f"sqlite:///{tmp_path}/a/s.db", "studies", "x") == tmp_path / "a" / ".x.lock"
    with study_lock(f"sqlite:///{tmp_path}/a/s.db", "studies", "x"):
        assert (tmp_path / "a" / ".x.lock").exists()


def test_a_journal_lock_held_past_the_grace_period_is_not_broken(tmp_path, monkeypatch):
    monkeypatch.setattr(_locks, "JOURNAL_GRACE_S", 3)
    monkeypatch.setattr(_locks, "TOUCH_S", 0.5)
    # a hold of twice the grace period (the pre-screen holds the lock for minutes): B must still wait for A
    assert _contend(f"journal:///{tmp_path / 'study.log'}", tmp_path, 6.0) == ["a released", "b holds"]


def test_a_journal_lock_whose_holder_was_killed_is_broken_after_the_grace_period(tmp_path, monkeypatch):
    url = f"journal:///{tmp_path / 'study.log'}"
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom snnas.search._locks import study_lock\n"
                               f"with study_lock({url!r}, '.', 's'):\n print('held', flush=True)\n time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert (tmp_path / ".s.claim.lock").exists()  # the dead holder's lock file is left behind
    monkeypatch.setattr(_locks, "JOURNAL_GRACE_S", 3)
    t0 = time.monotonic()
    with study_lock(url, tmp_path, "s"):
        waited = time.monotonic() - t0
    assert 2.5 < waited < 30, waited  # broken once its mtime stopped changing for the grace period


@pytest.mark.parametrize("url", ["sqlite:///{d}/s.db", "journal:///{d}/s.log", "postgresql://u@h/db"])
def test_the_lock_pickles_as_its_description(url, tmp_path):
    """Ray Tune pickles the searcher, which holds the lock (every Ray search had 0 trials when it did not)."""
    import copy
    import pickle

    lock = study_lock(url.format(d=tmp_path), tmp_path, "s")
    assert pickle.dumps(lock)
    again = copy.deepcopy(lock)  # the same state protocol as unpickling
    assert (again.url, again.studies_dir, again.study) == (lock.url, lock.studies_dir, lock.study)
    if not url.startswith("postgresql"):
        with again:
            pass


def test_ctrl_c_while_waiting_for_the_journal_lock_leaves_the_holders_lock_alone(tmp_path):
    """A waiter interrupted in the lock's ``acquire`` must not remove the holder's lock file (two would then
    claim at once); Optuna's lock releases only on an error in its ``open`` call, not while it sleeps."""
    url = f"journal:///{tmp_path / 'study.log'}"
    with study_lock(url, tmp_path, "s"):
        # Ctrl-C's KeyboardInterrupt even where this test runs with SIGINT ignored (a background job)
        waiter = subprocess.Popen([sys.executable, "-c", "import signal\n"
                                   "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                                   "import optuna.storages.journal\n"
                                   "from snnas.search._locks import study_lock\nprint('waiting', flush=True)\n"
                                   f"with study_lock({url!r}, '.', 's'):\n print('got it', flush=True)"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiter.stdout.readline().strip() == "waiting"
        time.sleep(2.0)  # inside acquire, waiting for our lock file
        waiter.send_signal(signal.SIGINT)
        out, err = waiter.communicate(timeout=30)
        assert "KeyboardInterrupt" in err and "got it" not in out
        assert (tmp_path / ".s.claim.lock").exists()  # still ours
    assert not (tmp_path / ".s.claim.lock").exists()
