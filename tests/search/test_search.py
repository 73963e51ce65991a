"""End-to-end searches on edge_tiny with a real SQLite Optuna storage, real processes and real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from snnas.search import TrialRecord, counts_toward_budget
from tests.search import load, peek

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def snnas(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_edge_tiny_search_end_to_end(tiny_search):
    cwd, r, wall = tiny_search
    assert r.returncode == 0, r.stderr[-2000:]
    print(f"edge_tiny, 4 trials: {wall:.1f} s wall")
    study = load(cwd, "edge_tiny-fashion-mini")
    trials = study.get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == 4
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert r.stdout.count("\ntrial ") + r.stdout.startswith("trial ") == len(trials)  # --quiet: a line per trial
    for t in trials:
        assert {"seed", "arch_id", "config", "params", "versions", "command", "rung0"} <= set(t.user_attrs)
        assert t.user_attrs["versions"]["spikingjelly"].startswith("2.")
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert done, "at least the first trials of a rung are never pruned"
    for t in done:
        assert "rung1" in t.user_attrs and TrialRecord.of(t).energy_report["total_uj"] == pytest.approx(t.values[1])
        assert 0.0 <= t.values[0] <= 1.0 and t.values[1] > 0
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert "rung1" not in t.user_attrs and t.user_attrs["prune_reason"].startswith("rung 0")
    front = {t.number for t in study.best_trials if "duplicate_of" not in t.user_attrs}  # one per architecture
    assert front and front <= {t.number for t in done}
    csv = pd.read_csv(cwd / "reports" / "edge_tiny-fashion-mini" / "pareto.csv")
    assert set(csv["trial"]) == front
    assert study.user_attrs["space"] == "edge_tiny" and study.user_attrs["dataset"] == "fashion-mini"


def test_rerunning_the_same_command_resumes_and_extends(tiny_search):
    cwd, _, _ = tiny_search
    before = len(load(cwd, "edge_tiny-fashion-mini").get_trials())
    r = snnas(cwd, "search", "--space", "edge_tiny", "--budget", "4", "--quiet", "--seed", "0")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(load(cwd, "edge_tiny-fashion-mini").get_trials()) == before  # budget already met: nothing new
    r = snnas(cwd, "search", "--space", "edge_tiny", "--budget", "5", "--quiet", "--seed", "0")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sum(counts_toward_budget(t) for t in load(cwd, "edge_tiny-fashion-mini").get_trials()) == 5


def test_recorded_command_reproduces_a_trial(tiny_search):
    cwd, _, _ = tiny_search
    study = load(cwd, "edge_tiny-fashion-mini")
    t = next(t for t in study.get_trials() if t.state == TrialState.COMPLETE)
    args = t.user_attrs["command"].split(" ", 1)[1]  # drop the leading "snnas"
    import shlex

    r = snnas(cwd, *shlex.split(args), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["arch_id"] == t.user_attrs["arch_id"]
    assert out["val_accuracy"] == pytest.approx(t.values[0], abs=1e-9)
    assert out["energy_uj"] == pytest.approx(t.values[1], rel=1e-6)


def test_study_opens_with_the_optuna_cli(tiny_search):
    cwd, _, _ = tiny_search
    optuna_cli = Path(sys.executable).with_name("optuna")
    url = f"sqlite:///{cwd / 'studies' / 'edge_tiny-fashion-mini.db'}"
    r = subprocess.run([str(optuna_cli), "studies", "--storage", url, "-f", "json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["name"] == "edge_tiny-fashion-mini"
    r = subprocess.run([str(optuna_cli), "trials", "--storage", url, "--study-name", "edge_tiny-fashion-mini",
                        "-f", "json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(json.loads(r.stdout)) >= 4, r.stderr


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_resume_after_sigkill_reruns_the_interrupted_trial(tmp_path):
    study_name = "killed"
    cmd = [sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "3", "--quiet",
           "--study", study_name, "--no-prune"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline and proc.poll() is None:  # kill it in its second trial
        time.sleep(0.5)
        study = peek(tmp_path, study_name)
        if study is not None:
            running = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
            victim = next((t for t in running if t.number >= 1 and "config" in t.user_attrs), None)
    assert victim is not None, f"the search never reached its second trial (exit code {proc.poll()})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    trials = load(tmp_path, study_name).get_trials()
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL and "fail_reason" not in killed.user_attrs
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1
    assert retries[0].params == victim.params and retries[0].user_attrs["seed"] == victim.user_attrs["seed"]
    assert retries[0].state == TrialState.COMPLETE
    assert sum(counts_toward_budget(t) for t in trials) == 3


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_two_workers_finish_exactly_the_budget(tmp_path):
    r = snnas(tmp_path, "search", "--space", "edge_tiny", "--budget", "4", "--workers", "2", "--quiet",
              "--study", "two")
    assert r.returncode == 0, r.stderr[-2000:]
    trials = load(tmp_path, "two").get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == 4 and len(trials) == 4
    assert len({t.user_attrs["pid"] for t in trials}) == 2
