"""The claim phase of ``bench/distributed.py``: workers that claim back to back on one study, timed and with
their storage round trips counted, and the statistics of a run (see that script's docstring)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STUDY = "edge_tiny-fashion-mini"
CLAIM_FIELDS = ("worker", "start", "n", "result", "total", "wait", "hold", "stale", "trials", "ask", "stmts",
                "lock_stmts", "commits", "checkouts", "reads", "appends", "write_locks")
SCRIPT = Path(__file__).resolve().parent / "distributed.py"  # a worker is that script with --claim-worker

# ------------------------------------------------------------------------------------------------ claim worker

def claim_worker(spec: dict[str, Any]) -> None:
    """One claiming process: ``ready`` on stdout, waits for ``go`` on stdin, claims until the budget is met,
    prints its claims as one JSON line (columns of ``CLAIM_FIELDS``)."""
    import random
    import socket

    import optuna
    from sqlalchemy import event

    from snnas.search import SearchOptions, _locks, load_space
    from snnas.search._study import claim, open_study
    from snnas.search._trial import TrialLife

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, budget, worker = spec["url"], spec["budget"], spec["worker"]
    space = load_space("edge_tiny")
    opts = SearchOptions(space="edge_tiny", storage=url, studies_dir="studies", duplicates="train").resolved(space)
    study = open_study(opts, space)
    lock = _locks.study_lock(url, opts.studies_dir, opts.study)
    c = dict.fromkeys(CLAIM_FIELDS[5:], 0)  # this claim's counters and timers (ms)

    def bump(key: str) -> Any:
        def f(*args: Any, **kwargs: Any) -> None:
            c[key] += 1
        return f

    def timed(key: str, fn: Any) -> Any:
        def f(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                c[key] += (time.perf_counter() - t) * 1e3
        return f

    def counted(key: str, fn: Any) -> Any:
        def f(*args: Any, **kwargs: Any) -> Any:
            c[key] += 1
            return fn(*args, **kwargs)
        return f

    storage = study._storage
    rdb = getattr(storage, "_backend", None)  # the RDBStorage under Optuna's _CachedStorage
    if rdb is not None and hasattr(rdb, "engine"):
        event.listen(rdb.engine, "before_cursor_execute", bump("stmts"))
        event.listen(rdb.engine, "commit", bump("commits"))
        event.listen(rdb.engine, "checkout", bump("checkouts"))
        if url.startswith("postgresql"):
            lock_engine = _locks._engine(url)
            event.listen(lock_engine, "before_cursor_execute", bump("lock_stmts"))
    else:  # the journal: its backend's reads, appends and write-lock acquisitions
        backend = storage._backend
        backend.read_logs = counted("reads", backend.read_logs)
        backend.append_logs = counted("appends", backend.append_logs)
        backend._lock.acquire = counted("write_locks", backend._lock.acquire)
    optuna.storages.fail_stale_trials = timed("stale", optuna.storages.fail_stale_trials)
    study.get_trials = timed("trials", study.get_trials)
    study.ask = timed("ask", study.ask)

    class TimedLock:
        def __enter__(self) -> None:
            t = time.perf_counter()
            lock.__enter__()
            self.got = time.perf_counter()
            c["wait"] += (self.got - t) * 1e3

        def __exit__(self, *exc: object) -> None:
            c["hold"] += (time.perf_counter() - self.got) * 1e3
            lock.__exit__(*exc)

    rng = random.Random(worker)
    where = {"device": "cpu", "pid": os.getpid(), "host": socket.gethostname(), "neurons": "eager"}
    out: dict[str, list] = {k: [] for k in CLAIM_FIELDS}
    print("ready", flush=True)
    sys.stdin.readline()
    t_go = time.perf_counter()
    outside = 0.0  # seconds between claims (sampling, attributes, tell)
    while True:
        for k in c:
            c[k] = 0
        t0 = time.perf_counter()
        trial = claim(study, budget, TimedLock())
        t1 = time.perf_counter()
        result = "none" if trial is None else "wait" if trial is False else "trial"
        row = {"worker": worker, "start": round(t0 - t_go, 4), "n": trial.number if result == "trial" else -1,
               "result": result, "total": (t1 - t0) * 1e3, **c}
        for k in CLAIM_FIELDS:
            out[k].append(round(row[k], 3) if isinstance(row[k], float) else row[k])
        if trial is None:
            break
        if trial is False:
            time.sleep(0.05)
            continue
        life = TrialLife(study, trial, space, opts)
        if life.begin(where) is not None:
            life.complete(rng.uniform(0.1, 0.9), rng.uniform(0.2, 5.0), {"total_uj": 1.0}, rss=None)
        outside += time.perf_counter() - t1
    print(json.dumps({"claims": out, "outside_s": outside, "wall_s": time.perf_counter() - t_go}), flush=True)


# ------------------------------------------------------------------------------------------------ claim phase

def storage_url(kind: str, folder: Path, pg: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'studies' / (STUDY + '.db')}"
    if kind == "journal":
        return f"journal:///{folder / 'studies' / (STUDY + '.log')}"
    return pg.create_db(f"claims_{os.getpid()}_{int(time.time() * 1000) % 10**9}")


def claim_run(kind: str, repeat: int, a: argparse.Namespace, tmp: Path, hosts: Any, pg: Any) -> dict[str, Any]:
    folder = tmp / f"claims-{kind}-{repeat}"
    folder.mkdir()
    url = storage_url(kind, folder, pg)
    procs, logs, where = [], [], []
    for w in range(a.claim_workers):
        wdir = folder / f"w{w}"
        wdir.mkdir()
        spec = {"url": url, "budget": a.claims, "worker": w}
        argv = [sys.executable, str(SCRIPT), "--claim-worker", json.dumps(spec)]
        log = open(wdir / "stderr.log", "w")  # noqa: SIM115 - the child holds it
        kw = {"cwd": wdir, "stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": log, "text": True}
        if kind == "postgresql":  # hosts 2..n, round robin: 2, 3, 4, 2 for four workers
            host = 2 + w % (len(hosts.names) - 1)
            procs.append(hosts.popen(host, argv, **kw))
            where.append(f"h{host}")
        else:
            procs.append(subprocess.Popen(argv, start_new_session=True, **kw))
            where.append("local")
        log.close()
        logs.append(wdir / "stderr.log")

    def fail(why: str) -> None:
        for p in procs:
            p.kill()
        tails = "\n".join(f"--- worker {i}:\n{f.read_text()[-2000:]}" for i, f in enumerate(logs))
        sys.exit(f"{kind} claim workers: {why}\n{tails}")

    for p in procs:
        if p.stdout.readline().strip() != "ready":
            fail("a worker did not start")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        line = p.stdout.readline()
        if p.wait() != 0 or not line:
            fail("a worker failed")
        outs.append(json.loads(line))
    wall = time.perf_counter() - t0
    cols: dict[str, list] = {k: [] for k in CLAIM_FIELDS}
    order = sorted(((o["claims"]["start"][j], i, j) for i, o in enumerate(outs) for j in range(len(o["claims"]["n"]))))
    for _, i, j in order:
        for k in CLAIM_FIELDS:
            cols[k].append(outs[i]["claims"][k][j])
    return {"phase": "claims", "storage": kind, "workers": a.claim_workers, "budget": a.claims, "repeat": repeat,
            "hosts": where, "wall_s": round(wall, 3), "outside_s": [round(o["outside_s"], 3) for o in outs],
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2), "claims": cols}


def claim_stats(row: dict[str, Any]) -> dict[str, Any]:
    c = row["claims"]
    idx = [i for i, r in enumerate(c["result"]) if r == "trial"]
    total = [c["total"][i] for i in idx]
    n = [c["n"][i] for i in idx]
    q = len(idx) // 4
    by_n = sorted(zip(n, total, strict=True))
    mean_n = statistics.fmean(n)
    slope = (sum((x - mean_n) * y for x, y in zip(n, total, strict=True))
             / sum((x - mean_n) ** 2 for x in n)) if len(set(n)) > 1 else 0.0

    def avg(key: str) -> float:
        return statistics.fmean(c[key][i] for i in idx)

    def pct(xs: list[float], p: int) -> float:
        return statistics.quantiles(xs, n=100, method="inclusive")[p - 1] if len(xs) > 1 else xs[0]

    return {
        "storage": row["storage"], "repeat": row["repeat"], "workers": row["workers"], "claims": len(idx),
        "waits": c["result"].count("wait"), "wall_s": row["wall_s"],
        "p50_ms": statistics.median(total), "p99_ms": pct(total, 99), "mean_ms": statistics.fmean(total),
        "first_q_p50_ms": statistics.median(t for _, t in by_n[:q]),
        "last_q_p50_ms": statistics.median(t for _, t in by_n[-q:]),
        "first_q": f"{by_n[0][0]}-{by_n[q - 1][0]}", "last_q": f"{by_n[-q][0]}-{by_n[-1][0]}",
        "slope_ms_per_100": slope * 100,
        "wait_p50_ms": statistics.median(c["wait"][i] for i in idx),
        "hold_p50_ms": statistics.median(c["hold"][i] for i in idx),
        "hold_mean_ms": avg("hold"), "stale_mean_ms": avg("stale"), "trials_mean_ms": avg("trials"),
        "ask_mean_ms": avg("ask"),
        "stmts": avg("stmts"), "lock_stmts": avg("lock_stmts"), "commits": avg("commits"),
        "checkouts": avg("checkouts"), "reads": avg("reads"), "appends": avg("appends"),
        "write_locks": avg("write_locks"),
        # the server's round trips: psycopg 3 sends BEGIN and COMMIT on their own, and the pools' pre-ping an empty
        # statement per checkout; the lock adds BEGIN and COMMIT twice and one ping (52 = 52 against the server's
        # log_statement=all log, checked once by hand on a one-process study)
        "pg_round_trips": (avg("stmts") + avg("lock_stmts") + 2 * avg("commits") + avg("checkouts") + 5
                           if row["storage"] == "postgresql" else None),
        "lock_busy": sum(c["hold"][i] for i in idx) / 1e3 / row["wall_s"],
        "load": [row["load_before"], row["load_after"]],
    }


