"""What a search's storage must look like after any number of kills, crashes or concurrent workers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from snnas.search import TrialRecord, counts_toward_budget
from snnas.search._results import pareto_frame


def planned_params(t: optuna.trial.FrozenTrial) -> dict:
    return TrialRecord.of(t).planned_params


def snnas(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A real ``snnas`` process (the CLI users run), started, not waited for."""
    return subprocess.Popen([sys.executable, "-m", "snnas", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def sqlite_ok(db: Path) -> None:
    """SQLite's own integrity check (a read-write connection rolls back a killed writer's hot journal first)."""
    con = sqlite3.connect(db, timeout=60)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], db
        assert con.execute("PRAGMA foreign_key_check").fetchall() == [], db
    finally:
        con.close()


def check_study(study: optuna.Study, budget: int, failed_ok: bool = False) -> dict[str, int]:
    """The invariants of a finished search; returns counts for the test's summary.

    * exactly ``budget`` trials count (COMPLETE, PRUNED, or FAIL with a recorded reason); none still running
      or waiting;
    * a FAIL without a reason is an interrupted trial (its process died). One that had parameters (sampled, or
      queued for it as a re-run) is re-run exactly once (``retry_of``) with every one of them and the same seed;
      one without has no re-run;
    * no architecture was trained twice as two counted trials: (parameters, seed) are unique among them;
    * every finished trial that trained has its attributes (seed, arch_id, command).
    """
    trials = study.get_trials(deepcopy=False)
    counted = [t for t in trials if counts_toward_budget(t)]
    assert len(counted) == budget, [(t.number, t.state.name) for t in trials]
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if not failed_ok:
        assert not [t.user_attrs["fail_reason"] for t in counted if t.state == TrialState.FAIL]
    interrupted = [t for t in trials if t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs]
    retries: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        if "retry_of" in t.user_attrs:
            retries.setdefault(t.user_attrs["retry_of"], []).append(t)
    assert set(retries) <= {t.number for t in interrupted}, "a re-run of a trial that was not interrupted"
    for t in interrupted:
        again = retries.get(t.number, [])
        if not planned_params(t):
            assert again == [], f"trial {t.number} had no parameters but was re-run"
            continue
        assert len(again) == 1, f"interrupted trial {t.number} re-run {len(again)} times"
        r = again[0]
        assert planned_params(t).items() <= planned_params(r).items(), (t.number, t.params, r.number, r.params)
        if "seed" in t.user_attrs:
            assert r.user_attrs["seed"] == t.user_attrs["seed"], (t.number, r.number)
    keys = [(json.dumps(t.params, sort_keys=True), t.user_attrs.get("seed")) for t in counted]
    assert len(keys) == len(set(keys)), "the same architecture and seed counted twice"
    for t in counted:
        if t.state == TrialState.COMPLETE:
            assert {"seed", "arch_id", "command", "config"} <= set(t.user_attrs), t.number
            assert TrialRecord.of(t).energy_report is not None, t.number
    return {"trials": len(trials), "counted": len(counted), "interrupted": len(interrupted),
            "rerun": sum(len(v) for v in retries.values())}


def check_report(folder: Path, study: optuna.Study) -> None:
    """The report folder holds whole files only: the page ends, the CSV is the study's front, no temp files."""
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>")
    front = pd.read_csv(folder / "pareto.csv")
    assert list(front["trial"]) == list(pareto_frame(study)["trial"])
    assert not list(folder.glob(".*.tmp")), list(folder.glob(".*.tmp"))
