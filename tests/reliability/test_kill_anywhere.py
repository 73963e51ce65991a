"""Kill anywhere: SIGKILL real ``snnas search`` processes at seeded points, re-run, and check nothing is lost.

Each chain is one study (edge_tiny, ``--budget 6``) in its own folder, searched by the README's command run
again and again. Every run but the last dies by SIGKILL: at a fault-injection site (``SNNAS_FAULTS``, see
``snnas/_faults.py``) chosen with its hit number by a seeded RNG, or after a seeded random delay (the process
is then killed from outside, wherever it is). The sites cover claiming a slot, sampling, training steps, the
model's forward pass, energy counting, storage writes (an SQL write inside its open transaction; a journal
write holding the journal's lock file, before its lines are appended), and report writing. After every kill
the storage must be whole (SQLite's integrity check; every journal line whole JSON; the PostgreSQL study
readable); after the final, uninterrupted run the study must hold exactly the budget, every interrupted trial
re-run once with its parameters and seed, nothing counted twice, and a report made of whole files.

The chains run on each storage: SQLite (the default, 5 chains), the journal file, and real PostgreSQL and
MariaDB (``mysql://``) servers on a test host (2 chains each, the first two chains' plans).

``SNNAS_KILL_SEED`` picks another seeded plan (the default one runs in CI); the plan and what each kill hit
are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest

from snnas.search._storage import open_storage
from tests.reliability._checks import check_report, check_study, snnas, sqlite_ok

SEED = int(os.environ.get("SNNAS_KILL_SEED", "2026"))
CHAINS, BUDGET = 5, 6
STUDY = "edge_tiny-fashion-mini"
# Hit numbers are drawn up to these (per process; an edge_tiny trial passes ~18 steps, ~37 forwards, ~28 writes).
RANGES = {"ask": 3, "sample": 3, "step": 40, "forward": 70, "energy": 4, "storage": 70}


def kill_plan(seed: int) -> list[list[str]]:
    """Per chain: four kills at distinct sites, one timed kill, then one while the report is written."""
    rng = random.Random(seed)
    plan = []
    for _ in range(CHAINS):
        kills = [f"{site}@{rng.randint(1, RANGES[site])}:kill" for site in rng.sample(sorted(RANGES), 4)]
        kills.append(f"timed@{rng.uniform(6.0, 16.0):.1f}")
        kills.append(f"report@{rng.randint(1, 4)}:kill")
        plan.append(kills)
    return plan


def storage_whole(folder: Path, url: str | None) -> None:
    """The storage after a kill: SQLite passes its integrity check, every journal line is whole JSON, and
    any storage still opens as an Optuna storage."""
    if url is None:
        db = folder / "studies" / f"{STUDY}.db"
        if db.exists():
            sqlite_ok(db)
        return
    if url.startswith("journal:///"):
        log = Path(url.removeprefix("journal:///"))
        if not log.exists():
            return
        assert all(isinstance(json.loads(line), dict) for line in log.read_text().splitlines()), log
    open_storage(url)


def run_chain(folder: Path, kills: list[str], seed: int, url: str | None = None) -> list[tuple[str, str]]:
    folder.mkdir()
    args = ("search", "--space", "edge_tiny", "--budget", str(BUDGET), "--quiet", "--threads", "1",
            "--seed", str(seed), *(("--storage", url) if url else ()))
    outcomes = []
    for kill in kills:
        env = dict(os.environ)
        env.pop("SNNAS_FAULTS", None)
        if not kill.startswith("timed@"):
            env["SNNAS_FAULTS"] = kill
        p = snnas(*args, cwd=folder, env=env)
        if kill.startswith("timed@"):
            try:
                p.wait(timeout=float(kill.removeprefix("timed@")))
            except subprocess.TimeoutExpired:  # still running: kill it wherever it is
                p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=900)
        if p.returncode == -signal.SIGKILL:
            outcomes.append((kill, "killed"))
        else:
            assert p.returncode == 0 and "Traceback" not in err, (kill, p.returncode, err[-3000:])
            outcomes.append((kill, "not reached"))
        storage_whole(folder, url)
    env = {k: v for k, v in os.environ.items() if k != "SNNAS_FAULTS"}
    p = snnas(*args, cwd=folder, env=env)
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert "Pareto front:" in out and "report: " in out, out[-2000:]
    return outcomes


def test_the_plan_is_seeded_and_covers_every_phase():
    assert kill_plan(SEED) == kill_plan(SEED) and kill_plan(SEED) != kill_plan(SEED + 1)
    sites = {k.split("@")[0] for chain in kill_plan(SEED) for k in chain}
    assert sites == {*RANGES, "timed", "report"}
    assert sum(map(len, kill_plan(SEED))) >= 20


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_sigkill_anywhere_then_rerun_ends_with_exactly_the_budget(tmp_path):
    plan = kill_plan(SEED)
    print(f"\nkill plan (SNNAS_KILL_SEED={SEED}):")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # two chains at a time, one torch thread each (2-core CI)
        results = list(pool.map(lambda c: run_chain(tmp_path / f"chain{c}", plan[c], SEED + c), range(CHAINS)))
    killed = 0
    for c, outcomes in enumerate(results):
        folder = tmp_path / f"chain{c}"
        db = folder / "studies" / f"{STUDY}.db"
        sqlite_ok(db)
        study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{db}")
        counts = check_study(study, BUDGET)
        check_report(folder / "reports" / STUDY, study)
        killed += sum(o == "killed" for _, o in outcomes)
        print(f"chain {c}: {', '.join(f'{k} {o}' for k, o in outcomes)}; {counts}")
    print(f"{killed} kill points survived in {time.perf_counter() - t0:.0f} s")
    assert killed >= 20


@pytest.mark.slow  # fault injection with real processes and a real server; run by .ci/run (pytest -m slow)
@pytest.mark.parametrize("kind", ["journal", "postgresql", "mysql"])
def test_sigkill_anywhere_on_the_journal_and_database_servers(kind, request, tmp_path):
    plan = kill_plan(SEED)[:2]
    if kind in ("postgresql", "mysql"):
        server = request.getfixturevalue({"postgresql": "pg", "mysql": "mysql"}[kind])
        urls = [server.create_db(f"kill{c}") for c in range(len(plan))]
    else:
        urls = [f"journal:///{tmp_path / f'chain{c}' / 'shared' / 'study.log'}" for c in range(len(plan))]
    print(f"\nkill plan on {kind} (SNNAS_KILL_SEED={SEED}):")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: run_chain(tmp_path / f"chain{c}", plan[c], SEED + c, urls[c]),
                                range(len(plan))))
    killed = 0
    for c, outcomes in enumerate(results):
        study = optuna.load_study(study_name=STUDY, storage=open_storage(urls[c]))
        counts = check_study(study, BUDGET)
        check_report(tmp_path / f"chain{c}" / "reports" / STUDY, study)
        killed += sum(o == "killed" for _, o in outcomes)
        print(f"chain {c}: {', '.join(f'{k} {o}' for k, o in outcomes)}; {counts}")
    assert killed >= 8
