"""Distributed search: the cost of the exact-budget claim on each storage, and throughput from 1, 2, 3 hosts.

**Claims** (``--claims`` in all, default 200, by ``--claim-workers`` processes, default 4, per storage).
Every worker loops ``claim(study, budget, lock)`` (:func:`snnas.search._study.claim`, the search's own, under
the study's own lock), samples the architecture and writes the trial's attributes as a search does
(:class:`~snnas.search._trial.TrialLife`, no training), and tells it COMPLETE with made-up objectives; then
claims again at once. So every claim reads a study of real finished trials (TPE proposes from them inside
``study.ask``, under the lock, as in a search), and the workers contend for the lock far more than trials
that train for seconds would: latency = waiting for the lock + holding it. SQLite and journal workers are
local processes on one file; PostgreSQL workers run on test hosts 2, 3, 4, 2 (network namespaces,
``tests/_hosts.py``) with the server on host 1. Per claim: total, lock wait, hold, and inside the hold the
stale-trial sweep, ``get_trials`` and ``ask``; the storage round trips (SQL statements on the storage's
engine and, for PostgreSQL, on the lock's own connection; for the journal, ``read_logs``, ``append_logs``
and acquisitions of the journal's write lock). Latency grows with the study (a claim reads every trial):
printed for the first and last quarter of the claims and as a least-squares slope.

**Scaling** (``--scale-hosts 1 2 3``, ``--scale-budget`` 12 trials in all, ``--repeats`` 2). The README's
``snnas search --space edge_tiny --budget N --quiet --threads 1 --storage postgresql://...`` on hosts 2..n+1
at once, one working folder each, a fresh database per run, with ``--search-args`` (default ``--duplicates
train``: edge_tiny is small, and with the default ``skip`` the sampler soon proposes only architectures the
study already has, which are looked up rather than trained and do not count, so the search ends as exhausted
before the budget and the rate would be one of look-ups). Per run: wall time, trials per minute (and per
minute between the first trial's start and the last trial's end, i.e. without process start-up and the
end's wait), CPU seconds per trial of the search processes (``wait4``) and of the PostgreSQL server
(``/proc``: live processes plus the postmaster's reaped children), the mean trial time, and the gap on each
host between a trial's end and its next trial's start (the claim as the search pays it), as a fraction of
the host's busy time. The hosts share this machine's cores, so trials per minute cannot scale with hosts
here; what the numbers can show is that nothing in snnas serialises them.

Every finished configuration is appended to ``reports/bench/distributed.jsonl`` and skipped when the command
is run again (``--fresh`` starts over); ``--report`` prints the tables from it and writes
``reports/bench/distributed.json``. Needs root (network namespaces) and Debian's PostgreSQL server for the
PostgreSQL parts.

    python bench/distributed.py [--claims 200 --claim-workers 4 --scale-hosts 1 2 3 --scale-budget 12 --repeats 2]
    python bench/distributed.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common
from _claim_bench import STUDY, claim_run, claim_stats, claim_worker

sys.path.insert(0, str(_common.ROOT))  # tests._hosts, the real test hosts

ROWS = _common.OUT_DIR / "distributed.jsonl"
STORAGES = ("sqlite", "journal", "postgresql")
NOTES = [  # what the numbers are not
    "machine: 2 shared cores, other sessions' work running (load 4-8): the 4 claim workers, the server and the "
    "hosts compete for CPU, so latencies are mostly CPU scheduling; repeats of the claim runs differed up to 2.4x",
    "claim workers claim back to back (no training), so the lock is held 85-92% of the time on SQLite and PostgreSQL: "
    "a stress test; `wait` is queueing behind the other three workers",
    "no growth with the study's size up to 200 trials was resolved: Optuna's cached RDB storage re-reads only "
    "unfinished trials and the journal replays only new log lines; a process joining a large study pays one full read",
    "PostgreSQL: a test server with fsync=off on the same machine (network namespaces on a bridge, no real network "
    "latency); a real server's commits and a real network add to every one of the ~59 round trips per claim",
    "SQLite statements are library calls, not network round trips; SQLite and journal files on the local disk",
    "scaling: hosts share the same 2 cores, so trials/min cannot scale past 2 hosts; the claim gap per trial "
    "(30-80 ms) against 2-5 s trials is the evidence that the hosts are not serialised by snnas",
    "scaling rows with search_args '' (the default --duplicates skip) stopped at 8-9 counted trials: edge_tiny "
    "exhausts (30 known proposals in a row); see `--search-args ''`",
]


# ------------------------------------------------------------------------------------------------ scale phase

def _server_cpu(hosts: Any) -> float:
    """CPU seconds of host 1's processes (the PostgreSQL server): live ones, plus reaped children's."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = set(hosts.pids(1))
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])  # utime, stime
        if int(f[1]) not in pids:  # the postmaster: its exited backends' time is in its cutime, cstime
            total += int(f[13]) + int(f[14])
    return total / tick


def _db_counts(pg: Any, db: str) -> dict[str, int]:
    """The server's own counts for one database (``pg_stat_database``): transactions (each at least BEGIN and
    COMMIT round trips), rows read and rows written. Read once the searches exited (their backends flush their
    statistics when they end)."""
    time.sleep(1.5)
    sql = ("SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted "
           f"FROM pg_stat_database WHERE datname = '{db}'")
    out = subprocess.run([shutil.which("psql") or "psql", "-tA", "-h", pg.host, "-p", str(pg.port), "-U", "postgres",
                          "-d", "postgres", "-c", sql], capture_output=True, text=True, check=True).stdout
    xacts, read, written = (int(x) for x in out.strip().split("|"))
    return {"xacts": xacts, "rows_read": read, "rows_written": written}


def scale_run(n_hosts: int, repeat: int, a: argparse.Namespace, tmp: Path, hosts: Any, pg: Any) -> dict[str, Any]:
    import optuna

    from snnas.search._record import counts_toward_budget
    from snnas.search._storage import open_storage

    url = pg.create_db(f"scale{n_hosts}_{repeat}_{os.getpid()}_{int(time.time()) % 10**6}")
    argv = [sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", str(a.scale_budget),
            "--quiet", "--threads", "1", "--storage", url, *a.search_args.split()]
    folder = tmp / f"scale-{n_hosts}-{repeat}"
    load0, srv0 = os.getloadavg()[0], _server_cpu(hosts)
    procs, ends, usage = [], {}, {}
    t_wall0, t_epoch0 = time.perf_counter(), time.time()
    for i in range(2, 2 + n_hosts):
        (folder / f"h{i}").mkdir(parents=True)
        err = open(folder / f"h{i}" / "stderr.log", "w")  # noqa: SIM115 - the child holds it
        procs.append((i, hosts.popen(i, argv, cwd=folder / f"h{i}", stdout=subprocess.DEVNULL, stderr=err)))
        err.close()

    def reap(i: int, p: subprocess.Popen) -> None:
        _, status, ru = os.wait4(p.pid, 0)  # ip netns exec -> unshare -> sh -> exec python: the same pid
        p.returncode = os.waitstatus_to_exitcode(status)
        ends[i], usage[i] = time.perf_counter() - t_wall0, ru.ru_utime + ru.ru_stime

    threads = [threading.Thread(target=reap, args=pr) for pr in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(ends.values())
    srv = _server_cpu(hosts) - srv0
    load1 = os.getloadavg()[0]
    for i, p in procs:
        if p.returncode:
            err = (folder / f"h{i}" / "stderr.log").read_text()[-3000:]
            sys.exit(f"search on h{i} failed ({p.returncode}):\n{err}")
    db = _db_counts(pg, url.rsplit("/", 1)[1])  # before we read the study: the searches' own traffic only
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    counted = sum(counts_toward_budget(t) for t in trials)
    per_host = []
    for i, _ in procs:
        mine = sorted((t for t in trials if t.user_attrs.get("host") == f"h{i}" and t.datetime_complete),
                      key=lambda t: t.datetime_start)
        gaps = [(b.datetime_start - x.datetime_complete).total_seconds() for x, b in zip(mine, mine[1:], strict=False)]
        durs = [(t.datetime_complete - t.datetime_start).total_seconds() for t in mine]
        first = mine[0].datetime_start.timestamp() - t_epoch0 if mine else None
        last = mine[-1].datetime_complete.timestamp() - t_epoch0 if mine else None
        per_host.append({"host": f"h{i}", "trials": len(mine), "cpu_s": round(usage[i], 3), "end_s": round(ends[i], 3),
                         "first_start_s": first, "last_end_s": last, "trial_s": durs, "gap_s": gaps})
    return {"phase": "scale", "hosts": n_hosts, "budget": a.scale_budget, "repeat": repeat,
            "search_args": a.search_args, "wall_s": round(wall, 3),
            "counted": counted, "states": {s: sum(t.state.name == s for t in trials) for s in
                                           ("COMPLETE", "PRUNED", "FAIL", "RUNNING")},
            "server_cpu_s": round(srv, 3), "db": db, "load_before": round(load0, 2), "load_after": round(load1, 2),
            "per_host": per_host}


def scale_stats(row: dict[str, Any]) -> dict[str, Any]:
    hs = row["per_host"]
    durs = [d for h in hs for d in h["trial_s"]]
    gaps = [g for h in hs for g in h["gap_s"]]
    busy = sum(h["last_end_s"] - h["first_start_s"] for h in hs if h["trials"])
    span = max(h["last_end_s"] for h in hs if h["trials"]) - min(h["first_start_s"] for h in hs if h["trials"])
    cpu = sum(h["cpu_s"] for h in hs)
    return {
        "hosts": row["hosts"], "repeat": row["repeat"], "budget": row["budget"], "counted": row["counted"],
        "trials_run": len(durs), "wall_s": row["wall_s"], "trials_per_min": row["counted"] / row["wall_s"] * 60,
        "steady_trials_per_min": row["counted"] / span * 60, "cpu_s": cpu, "cpu_s_per_trial": cpu / row["counted"],
        "server_cpu_s_per_trial": row["server_cpu_s"] / row["counted"],
        "trial_s_mean": statistics.fmean(durs), "gap_ms_mean": statistics.fmean(gaps) * 1e3 if gaps else None,
        "gap_ms_max": max(gaps) * 1e3 if gaps else None, "claim_frac": sum(gaps) / busy if busy else None,
        "startup_s_mean": statistics.fmean(h["first_start_s"] for h in hs if h["trials"]),
        "tail_s_mean": statistics.fmean(h["end_s"] - h["last_end_s"] for h in hs if h["trials"]),
        "trials_by_host": [h["trials"] for h in hs], "load": [row["load_before"], row["load_after"]],
        **({f"{k}_per_trial": v / row["counted"] for k, v in row["db"].items()} if "db" in row else {}),
    }


# ------------------------------------------------------------------------------------------------ report

def report(a: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    claims = [claim_stats(r) for r in rows if r["phase"] == "claims"]
    scale = [scale_stats(r) for r in rows if r["phase"] == "scale" and r.get("search_args") == a.search_args]
    if claims:
        w = claims[0]["workers"]
        _common.table(f"Claim latency, {w} workers claiming at once, ms (q1, q4: the first and last quarter of the "
                      "claims by study size; slope: ms per 100 trials; wait, hold: p50; stale, trials, ask: mean "
                      "ms inside the hold; busy: share of wall time the lock was held)",
                      ["storage", "rep", "claims", "p50", "p99", "mean", "p50 q1", "p50 q4", "slope", "wait",
                       "hold", "stale", "trials", "ask", "busy"],
                      [[c["storage"], c["repeat"], c["claims"], c["p50_ms"], c["p99_ms"], c["mean_ms"],
                        c["first_q_p50_ms"], c["last_q_p50_ms"], c["slope_ms_per_100"], c["wait_p50_ms"],
                        c["hold_p50_ms"], c["stale_mean_ms"], c["trials_mean_ms"], c["ask_mean_ms"],
                        f"{c['lock_busy']:.0%}"] for c in claims])
        _common.table("Storage round trips per claim (means)",
                      ["storage", "rep", "SQL stmts", "lock SQL", "commits", "conn checkouts", "PG round trips",
                       "read_logs", "append_logs", "journal write locks"],
                      [[c["storage"], c["repeat"], c["stmts"], c["lock_stmts"], c["commits"], c["checkouts"],
                        c["pg_round_trips"], c["reads"], c["appends"], c["write_locks"]] for c in claims])
    if scale:
        _common.table("Throughput, one PostgreSQL study, n hosts running `snnas search` at once (steady: between "
                      "the first trial's start and the last's end; CPU: seconds per counted trial, search processes "
                      "and server; gap: a host's trial end to its next start; claim %: gaps / the hosts' busy time)",
                      ["hosts", "rep", "trials", "wall s", "/min", "steady/min", "CPU/trial", "srv CPU/trial",
                       "trial s", "gap ms", "gap max", "claim %", "start s", "tail s", "by host"],
                      [[s["hosts"], s["repeat"], s["counted"], s["wall_s"], s["trials_per_min"],
                        s["steady_trials_per_min"], s["cpu_s_per_trial"], s["server_cpu_s_per_trial"],
                        s["trial_s_mean"], s["gap_ms_mean"], s["gap_ms_max"],
                        None if s["claim_frac"] is None else f"{s['claim_frac']:.2%}", s["startup_s_mean"],
                        s["tail_s_mean"], "/".join(map(str, s["trials_by_host"]))] for s in scale])
        _common.table("Storage traffic per counted trial on the PostgreSQL server (pg_stat_database of the run's "
                      "database: every search process, its trials, heartbeats, watcher and final front)",
                      ["hosts", "rep", "transactions", "rows read", "rows written"],
                      [[s["hosts"], s["repeat"], s["xacts_per_trial"], s["rows_read_per_trial"],
                        s["rows_written_per_trial"]] for s in scale if "xacts_per_trial" in s])
    summary = []
    for kind in STORAGES:
        cs = [c for c in claims if c["storage"] == kind]
        if cs:
            p50s, p99s = ("/".join(f"{c[k]:.0f}" for c in cs) for k in ("p50_ms", "p99_ms"))
            summary.append(f"{kind} claim p50 {p50s} ms, p99 {p99s} ms (per repeat)")
    by_hosts: dict[int, list[dict]] = {}
    for s in scale:
        by_hosts.setdefault(s["hosts"], []).append(s)
    for n, ss in sorted(by_hosts.items()):
        summary.append(f"{n} host(s) {statistics.fmean(s['trials_per_min'] for s in ss):.1f} trials/min, "
                       f"{statistics.fmean(s['cpu_s_per_trial'] for s in ss):.2f} CPU s/trial, claim gap "
                       f"{statistics.fmean(s['claim_frac'] or 0 for s in ss):.2%} of busy time")
    _common.record("distributed", a, claims + scale, "; ".join(summary) or "no rows yet", notes=NOTES,
                   jsonl=str(ROWS.relative_to(_common.ROOT) if ROWS.is_relative_to(_common.ROOT) else ROWS))


# ------------------------------------------------------------------------------------------------ main

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claim-worker", help=argparse.SUPPRESS)
    p.add_argument("--storages", nargs="+", choices=STORAGES, default=list(STORAGES))
    p.add_argument("--claims", type=int, default=200, help="the claims' shared budget (trials) per storage")
    p.add_argument("--claim-workers", type=int, default=4)
    p.add_argument("--scale-hosts", type=int, nargs="*", default=[1, 2, 3], help="host counts for the scaling runs")
    p.add_argument("--scale-budget", type=int, default=12, help="trials in all per scaling run")
    p.add_argument("--repeats", type=int, default=2, help="scaling runs per host count")
    p.add_argument("--search-args", default="--duplicates train",
                   help="added to each host's `snnas search` (default: train a re-proposed architecture again, so "
                        "every trial trains and counts: edge_tiny is small, and with the default `skip` the sampler "
                        "soon proposes only known architectures, which are looked up, not trained, and the search "
                        "ends as exhausted before the budget)")
    p.add_argument("--claim-repeats", type=int, default=1)
    p.add_argument("--fresh", action="store_true", help="forget the recorded configurations")
    p.add_argument("--report", action="store_true", help="only print the tables from the records")
    a = p.parse_args()
    if a.claim_worker:
        return claim_worker(json.loads(a.claim_worker))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if a.fresh and ROWS.exists():
        ROWS.unlink()
    rows = _common.read_jsonl(ROWS)
    if a.report:
        return report(a, rows)
    done = {(r["phase"], r.get("storage", r.get("search_args")), r["hosts"] if r["phase"] == "scale" else r["workers"],
             r["budget"], r["repeat"]) for r in rows}
    todo = [("claims", s, a.claim_workers, a.claims, k) for k in range(a.claim_repeats) for s in a.storages]
    todo += [("scale", a.search_args, n, a.scale_budget, k) for k in range(a.repeats) for n in a.scale_hosts]
    todo = [t for t in todo if t not in done]
    need_hosts = any(t[0] == "scale" or t[1] == "postgresql" for t in todo)
    if need_hosts:
        from tests._hosts import Hosts, PgServer, unavailable

        if (why := unavailable() or PgServer.unavailable()) is not None:
            print(f"bench/distributed.py: {why}", file=sys.stderr)
            sys.exit(2)
    _common.console.print(f"{len(todo)} configuration(s) to run, {len(rows)} recorded in {ROWS}")
    hosts = pg = None
    tmp = Path(tempfile.mkdtemp(prefix="snnas-distributed-"))
    t_all = time.perf_counter()
    try:
        if need_hosts:
            pg_claims = "postgresql" in a.storages and a.claims > 0
            hosts = Hosts(1 + max([3 if pg_claims else 1, *a.scale_hosts]))  # h1: the server; 2, 3, 4, 2 claim
            pg = PgServer(hosts, 1)
        ROWS.parent.mkdir(parents=True, exist_ok=True)
        for k, (phase, storage, size, _, rep) in enumerate(todo, 1):
            t0 = time.perf_counter()
            if phase == "claims":
                row = claim_run(storage, rep, a, tmp, hosts, pg)
                s = claim_stats(row)
                what = (f"{storage}: {s['claims']} claims, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
                        f"{s['first_q_p50_ms']:.1f} -> {s['last_q_p50_ms']:.1f} ms")
            else:
                row = scale_run(size, rep, a, tmp, hosts, pg)
                s = scale_stats(row)
                what = (f"{size} host(s) rep {rep}: {s['counted']} trials in {s['wall_s']:.1f} s, "
                        f"{s['trials_per_min']:.1f}/min, {s['cpu_s_per_trial']:.2f} CPU s/trial")
            with ROWS.open("a") as f:
                f.write(json.dumps(row) + "\n")
            _common.console.print(f"[{k}/{len(todo)} {time.perf_counter() - t_all:.0f} s] {what} "
                                  f"({time.perf_counter() - t0:.0f} s)")
    finally:
        if pg is not None:
            pg.stop()
        if hosts is not None:
            hosts.down()
        shutil.rmtree(tmp, ignore_errors=True)
    report(a, _common.read_jsonl(ROWS))


if __name__ == "__main__":
    main()
