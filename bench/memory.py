"""Memory over a long search: each worker's resident set size after every trial (goal: flat, not growing).

Every trial records its worker's RSS when it finishes (``rss_mb``). This reads them from a study (the main
job's with ``--study-db``) or runs its own search first, then prints per worker process: the RSS after its
first trial, the peak, the last, and the least-squares growth in MB per 100 trials over the second half of its
trials (after warm-up). "Flat" means the second-half growth is under 1 % of the worker's peak per 100 trials.

    python bench/memory.py [--study-db /tmp/snnas-main-job/studies/edge_small-fashion-mini.db]
    python bench/memory.py --space edge_tiny --budget 120 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _common
import optuna


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study-db", default=None, help="read this study instead of running a search")
    p.add_argument("--space", default="edge_tiny")
    p.add_argument("--budget", type=int, default=120)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = None
    db = a.study_db
    if db is None:
        tmp = tempfile.TemporaryDirectory()
        r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", a.space, "--budget", str(a.budget),
                            "--workers", str(a.workers), "--study", "m", "--quiet"], cwd=tmp.name, capture_output=True,
                           text=True)
        if r.returncode:
            sys.exit(f"search failed:\n{r.stderr[-3000:]}")
        db = str(Path(tmp.name) / "studies" / "m.db")
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    per: dict[int, list[tuple[int, float]]] = {}
    for t in sorted(study.get_trials(), key=lambda t: t.number):
        if t.user_attrs.get("rss_mb") is not None:
            per.setdefault(t.user_attrs.get("pid", 0), []).append((t.number, t.user_attrs["rss_mb"]))
    rows = []
    for k, (pid, series) in enumerate(sorted(per.items(), key=lambda kv: kv[1][0][0])):
        half = series[len(series) // 2:]
        growth = 100 * slope([float(i) for i in range(len(half))], [m for _, m in half])
        peak = max(m for _, m in series)
        rows.append({"worker": k, "pid": pid, "trials": len(series), "first_mb": series[0][1], "peak_mb": peak,
                     "last_mb": series[-1][1], "growth_mb_per_100_trials_2nd_half": growth,
                     "flat": growth < 0.01 * peak, "series": series})
    _common.table(f"RSS per worker over {sum(r['trials'] for r in rows)} trials ({db})",
                  ["worker", "trials", "after 1st trial MB", "peak MB", "last MB", "MB / 100 trials (2nd half)",
                   "flat"], [[r["worker"], r["trials"], r["first_mb"], r["peak_mb"], r["last_mb"],
                              r["growth_mb_per_100_trials_2nd_half"], r["flat"]] for r in rows])
    flat = all(r["flat"] for r in rows)
    worst = max(r["growth_mb_per_100_trials_2nd_half"] for r in rows)
    _common.record("memory", {**vars(a), "study_db": db}, rows,
                   f"peak RSS {max(r['peak_mb'] for r in rows):.0f} MB; second-half growth at most {worst:.1f} MB per "
                   f"100 trials (goal flat, < 1 % of peak per 100 trials: {'met' if flat else 'missed'})",
                   goals={"rss_flat": {"goal": "growth < 1 % of peak per 100 trials", "value": worst, "met": flat}})
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
