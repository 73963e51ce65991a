"""Wall time of the README's main command on this machine (goal: <= 15 minutes for 200 trials on 2 cores).

Runs exactly ``snnas search --space edge_small --budget 200 --workers 2`` (the README's command, after the
install) in ``--workdir``, with Python start-up, the report and everything else included, and prints the
wall time, trials by state, the front and its hypervolume, and the per-trial seconds. The study stays in
``--workdir`` so that ``bench/memory.py --study-db`` can read the RSS each worker recorded per trial.

    python bench/main_job.py [--workdir /tmp/snnas-main-job] [--budget 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common
import optuna
from optuna.trial import TrialState

from snnas.search import hypervolume_2d


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="/tmp/snnas-main-job", help="emptied first; the study is kept there")
    p.add_argument("--space", default="edge_small")
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--name", default="main_job", help="JSON record name in reports/bench/")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `snnas search` arguments")
    a = p.parse_args()
    work = Path(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    exe = Path(sys.executable).with_name("snnas")
    cmd = [str(exe) if exe.exists() else "snnas", "search", "--space", a.space, "--budget", str(a.budget),
           "--workers", str(a.workers), *a.extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (work / "search.log").write_text(r.stdout + r.stderr)
    if r.returncode:
        sys.exit(f"the main job failed (rc {r.returncode}); log in {work / 'search.log'}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = next((work / "studies").glob("*.db"))
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    trials = study.get_trials()
    states = collections.Counter(t.state.name for t in trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    front = [tuple(t.values) for t in study.best_trials]
    ref = 1.01 * max(t.values[1] for t in done)
    secs = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials if t.datetime_complete]
    neurons = collections.Counter(t.user_attrs.get("neurons", "?") for t in trials)
    row = {"command": " ".join(["snnas", *cmd[1:]]), "wall_s": wall, "states": dict(states), "front": len(front),
           "hypervolume": hypervolume_2d(front, ref), "hv_reference_uj": ref, "trial_s_mean": sum(secs) / len(secs),
           "trial_s_max": max(secs), "neurons": dict(neurons), "study_db": str(db)}
    _common.table(f"main job on {_common.machine()['cores']} cores",
                  ["command", "wall", "complete/pruned/failed", "front", "HV", "mean trial s", "neurons"],
                  [[row["command"], f"{wall / 60:.1f} min", f"{states['COMPLETE']}/{states['PRUNED']}/{states['FAIL']}",
                    len(front), row["hypervolume"], row["trial_s_mean"], dict(neurons)]])
    _common.record(a.name, a, [row],
                   f"the main job took {wall / 60:.1f} minutes for {a.budget} trials "
                   f"(goal <= 15: {'met' if wall <= 900 else 'missed'})",
                   goals={"main_job_minutes": {"goal": "<= 15", "value": wall / 60, "met": wall <= 900}})


if __name__ == "__main__":
    main()
