"""Search efficiency: hypervolume after N trials for nsga2, tpe, random, and nsga2 without pruning.

Each (method, seed) is one real ``snnas search`` run in a fresh folder (same space, budget, workers, seed
list). The hypervolume is over the feasible completed trials (full fidelity), accuracy up and energy down,
from one reference point for every run: accuracy 0 and ``--ref-energy`` (default: 1.01 x the largest
energy any run completed). Printed per method, as the mean over seeds:

* final hypervolume and its ratio to random's (goal >= 1.15 for nsga2);
* the fraction of random's trials the method needs (finished trials, in completion order) to reach
  random's mean final hypervolume (goal <= 40 %; ``-`` when it never does);
* for nsga2 with vs without pruning: wall seconds to reach 80 % of the no-pruning run's final
  hypervolume, and the ratio (goal >= 2x faster).

    python bench/search_efficiency.py [--space edge_small --budget 24 --seeds 0 1 2 --workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import optuna
from optuna.trial import TrialState

from snnas.search import hypervolume_2d

METHODS = {  # name: extra `snnas search` arguments
    "random": ["--sampler", "random"],
    "tpe": ["--sampler", "tpe"],
    "nsga2": ["--sampler", "nsga2"],
    "nsga2, no pruning": ["--sampler", "nsga2", "--no-prune"],
}


def run(method: str, seed: int, a: argparse.Namespace, folder: Path) -> dict:
    cmd = [sys.executable, "-m", "snnas", "search", "--space", a.space, "--budget", str(a.budget), "--seed", str(seed),
           "--workers", str(a.workers), "--study", "s", "--quiet", *METHODS[method]]
    if a.compile_neurons:
        cmd += ["--compile-neurons", "on"]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    wall = time.time() - t0
    if r.returncode:
        sys.exit(f"{method} seed {seed} failed:\n{r.stderr[-3000:]}")
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{folder / 'studies' / 's.db'}")
    trials = [t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    trials.sort(key=lambda t: t.datetime_complete)
    start = min(t.datetime_start for t in trials).timestamp()
    # (finished trials so far, seconds since the first trial started, completed point or None)
    events = [(i + 1, t.datetime_complete.timestamp() - start,
               tuple(t.values) if t.state == TrialState.COMPLETE else None) for i, t in enumerate(trials)]
    console_line = f"{method:18} seed {seed}: {wall:6.1f} s, {sum(e[2] is not None for e in events)} complete"
    _common.console.print(console_line)
    return {"method": method, "seed": seed, "wall_s": wall, "events": events}


def hv_curve(events: list, ref: float) -> list[tuple[int, float, float]]:
    pts, out = [], []
    for n, sec, p in events:
        if p is not None:
            pts.append(p)
        out.append((n, sec, hypervolume_2d(pts, ref)))
    return out


def first_reaching(curve: list[tuple[int, float, float]], target: float, index: int) -> float | None:
    return next((c[index] for c in curve if c[2] >= target - 1e-12), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--budget", type=int, default=24)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--ref-energy", type=float, default=None, help="uJ; default 1.01 x the largest completed energy")
    p.add_argument("--compile-neurons", action="store_true", help="search with fused CPU neurons")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            for m in a.methods:
                folder = Path(tmp) / f"{m.replace(', ', '-').replace(' ', '_')}-{seed}"
                folder.mkdir()
                runs.append(run(m, seed, a, folder))
    ref = a.ref_energy or 1.01 * max(e[2][1] for r in runs for e in r["events"] if e[2] is not None)
    for r in runs:
        r["curve"] = hv_curve(r["events"], ref)
        r["final_hv"] = r["curve"][-1][2]
    by = {m: [r for r in runs if r["method"] == m] for m in a.methods}
    final = {m: statistics.mean(r["final_hv"] for r in rs) for m, rs in by.items()}
    rand = final.get("random")
    rows = []
    for m, rs in by.items():
        need = [first_reaching(r["curve"], rand, 0) if rand else None for r in rs]
        frac = [n / a.budget if n is not None else None for n in need]
        rows.append({"method": m, "final_hv_mean": final[m], "final_hv_per_seed": [r["final_hv"] for r in rs],
                     "hv_vs_random": final[m] / rand if rand else None,
                     "trials_to_random_final": need,
                     "fraction_of_budget_to_random_final": frac,
                     "mean_fraction": statistics.mean(f if f is not None else 1.0 for f in frac) if rand else None,
                     "never_reached": sum(f is None for f in frac),
                     "wall_s_mean": statistics.mean(r["wall_s"] for r in rs),
                     "complete_mean": statistics.mean(sum(e[2] is not None for e in r["events"]) for r in rs)})
    speed = {}
    if "nsga2" in by and "nsga2, no pruning" in by:
        for frac_target in (0.5, 0.8):
            t_with, t_without = [], []
            for r_p, r_np in zip(by["nsga2"], by["nsga2, no pruning"], strict=True):
                target = frac_target * r_np["final_hv"]
                t_with.append(first_reaching(r_p["curve"], target, 1))
                t_without.append(first_reaching(r_np["curve"], target, 1))
            ok = [(w, wo) for w, wo in zip(t_with, t_without, strict=True) if w is not None and wo is not None]
            speed[f"{int(frac_target * 100)}%"] = {
                "seconds_with_pruning": t_with, "seconds_without": t_without,
                "speedup_mean": statistics.mean(wo / w for w, wo in ok) if ok else None,
                "pruned_run_never_reached": sum(w is None for w in t_with)}
    _common.table(f"{a.space}, {a.budget} trials, seeds {a.seeds}, {a.workers} workers; HV reference: accuracy 0, "
                  f"{ref:.4f} uJ",
                  ["method", "final HV (mean)", "x random", "trials to random's HV", "mean fraction", "wall s",
                   "complete"],
                  [[r["method"], r["final_hv_mean"], r["hv_vs_random"],
                    " ".join("-" if n is None else str(n) for n in r["trials_to_random_final"]), r["mean_fraction"],
                    r["wall_s_mean"], r["complete_mean"]] for r in rows])
    if speed:
        _common.table("nsga2: wall seconds to reach a share of the no-pruning run's final HV (per seed)",
                      ["target", "with pruning", "without", "speed-up (mean)", "pruned run never reached"],
                      [[k, " ".join("-" if x is None else f"{x:.0f}" for x in v["seconds_with_pruning"]),
                        " ".join("-" if x is None else f"{x:.0f}" for x in v["seconds_without"]),
                        v["speedup_mean"], v["pruned_run_never_reached"]] for k, v in speed.items()])
    nsga = next((r for r in rows if r["method"] == "nsga2"), None)
    hv_ratio = nsga["hv_vs_random"] if nsga else None
    frac = nsga["mean_fraction"] if nsga else None
    sp80 = speed.get("80%", {}).get("speedup_mean")
    goals = {
        "nsga2_hv_vs_random": {"goal": ">= 1.15", "value": hv_ratio, "met": bool(hv_ratio and hv_ratio >= 1.15)},
        "nsga2_fraction_to_random_final": {"goal": "<= 0.40", "value": frac, "met": frac is not None and frac <= 0.4},
        "pruning_speedup_to_80pct_hv": {"goal": ">= 2", "value": sp80, "met": bool(sp80 and sp80 >= 2)},
    }
    _common.record("search_efficiency", a, rows,
                   f"nsga2 reaches {hv_ratio:.2f}x random's hypervolume (goal 1.15) and random's final HV after "
                   f"{frac:.0%} of the trials (goal <= 40%, mean over seeds, 100% when never); pruning reaches 80% "
                   f"of the no-pruning HV {sp80 or float('nan'):.2f}x sooner (goal 2x)" if nsga and rand else
                   "incomplete method set: see the table", goals=goals, reference_energy_uj=ref, speed=speed,
                   runs=[{k: v for k, v in r.items() if k != "events"} for r in runs])


if __name__ == "__main__":
    main()
