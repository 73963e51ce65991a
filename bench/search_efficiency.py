"""Search efficiency: the default strategy against random search, same space and budget, several seeds.

Each (method, seed) is one real ``snnas search`` in a fresh folder; runs are appended to
``reports/bench/search_efficiency_runs.jsonl`` as they finish, so an interrupted benchmark resumes where it
stopped (``--fresh`` starts over). The hypervolume is over the feasible completed trials, accuracy up and
energy down, from one reference point for every run: accuracy 0 and ``--ref-energy`` (default: 1.01 x the
largest energy any run completed). Printed per method, over seeds:

* final hypervolume, mean ± sd, and its ratio to random's; how many seeds reach random's HV in the same seed;
* the anytime curve: the share of random's mean final HV reached after 10, 20, ... trials;
* trials (finished, in completion order) and wall seconds to reach random's mean final HV (goal: <= 40 %
  of the budget in every seed);
* ``--rescore K``: the K most accurate points of each run's front trained again from scratch at the
  reference fidelity of ``reference_table`` (``--ref-epochs`` 6 on the whole training part, the run's data
  seed and the trial's seed), and the HV of those K points on their reference accuracy and energy (proxy HV
  alone rewards lucky noise). ``--rescore-points spread`` takes K points spread along the front by energy
  instead, both ends included. ``--procs`` processes, one thread each; every point is appended to
  ``reports/bench/search_efficiency_rescored.jsonl`` as it finishes, so this resumes too.

    python bench/search_efficiency.py [--space edge_small --budget 100 --seeds 0 1 2 3 4 --workers 2]
"""

from __future__ import annotations

import argparse
import json
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
    "default": [],  # what `snnas search --space S` does (the space's sampler, pre-screen, predictive gate)
    "random": ["--sampler", "random", "--prescreen", "0", "--gate", "raw", "--duplicates", "train"],
    "tpe": ["--sampler", "tpe", "--prescreen", "0"],
    "nsga2": ["--sampler", "nsga2", "--prescreen", "0"],
    "nsga2, prescreen": ["--sampler", "nsga2"],  # the default strategy with another sampler
    "gp, prescreen": ["--sampler", "gp"],
    "default, raw gate": ["--gate", "raw"],
    "default, no pruning": ["--no-prune"],
}
RUNS = _common.OUT_DIR / "search_efficiency_runs.jsonl"
RESCORED = _common.OUT_DIR / "search_efficiency_rescored.jsonl"


def run(method: str, seed: int, a: argparse.Namespace, folder: Path) -> dict:
    cmd = [sys.executable, "-m", "snnas", "search", "--space", a.space, "--budget", str(a.budget), "--seed", str(seed),
           "--workers", str(a.workers), "--study", "s", "--quiet", *METHODS[method]]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    wall = time.time() - t0
    if r.returncode:
        sys.exit(f"{method} seed {seed} failed:\n{r.stderr[-3000:]}")
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{folder / 'studies' / 's.db'}")
    trials = [t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
              or (t.state == TrialState.FAIL and t.user_attrs.get("fail_reason"))]  # not the interrupted
    trials.sort(key=lambda t: t.datetime_complete)
    start = min(t.datetime_start for t in trials).timestamp()
    # (finished trials so far, seconds since the first trial started, completed point or None): duplicates
    # (nothing trained, not counted) keep the count but may add their known point
    events, n = [], 0
    for t in trials:
        n += "duplicate_of" not in t.user_attrs
        feasible = all(v <= 0 for v in t.constraints.values())  # the space's limits and the chance test
        point = tuple(t.values) if t.state == TrialState.COMPLETE and feasible else None
        events.append((n, t.datetime_complete.timestamp() - start, point, t.number))
    front = [{"trial": t.number, "params": t.params, "values": t.values, "config": t.user_attrs.get("config"),
              "seed": t.user_attrs.get("seed")} for t in study.best_trials]
    dups = sum("duplicate_of" in t.user_attrs for t in trials)
    _common.console.print(f"{method:22} seed {seed}: {wall:6.1f} s, {sum(e[2] is not None for e in events)} complete, "
                          f"{dups} duplicates")
    return {"method": method, "seed": seed, "budget": a.budget, "space": a.space, "wall_s": wall, "events": events,
            "front": front, "duplicates": dups}


def hv_curve(events: list, ref: float) -> list[tuple[int, float, float]]:
    pts, out = [], []
    for n, sec, p, *_ in events:
        if p is not None:
            pts.append(tuple(p))
        out.append((n, sec, hypervolume_2d(pts, ref)))
    return out


def first_reaching(curve: list[tuple[int, float, float]], target: float, index: int) -> float | None:
    return next((c[index] for c in curve if c[2] >= target - 1e-12), None)


def hv_at(curve: list[tuple[int, float, float]], n: int) -> float:
    return max((c[2] for c in curve if c[0] <= n), default=0.0)


def rescore_job(job: tuple) -> dict:
    """One front point trained from scratch at the reference fidelity (in a worker process, one thread)."""
    import dataclasses

    import torch

    from snnas.search import ProxyTrainer, load_space
    from snnas.search.space import Rung

    method, seed, point, space, epochs = job
    torch.set_num_threads(1)
    sp = load_space(space)
    ref_sp = dataclasses.replace(sp, rungs=(Rung(epochs=epochs, fraction=1.0),))
    t0 = time.perf_counter()
    res = ProxyTrainer(ref_sp, device="cpu", data_seed=seed).run(sp.config_from_params(point["params"]), point["seed"])
    return {"method": method, "seed": seed, "trial": point["trial"], "space": space, "epochs": epochs,
            "proxy": point["values"], "reference": [res.val_accuracy, res.energy_uj],
            "seconds": time.perf_counter() - t0}


def front_points(run_: dict, k: int, how: str = "top") -> list[dict]:
    """``k`` points of a run's front: the most accurate (``top``), or spread evenly along it by energy from
    the cheapest to the most accurate (``spread``, both ends included)."""
    if how == "top":
        return sorted(run_["front"], key=lambda f: -f["values"][0])[:k]
    front = sorted(run_["front"], key=lambda f: f["values"][1])
    if len(front) <= k:
        return front
    picks = sorted({round(i * (len(front) - 1) / (k - 1)) for i in range(k)}) if k > 1 else [len(front) - 1]
    return [front[i] for i in picks]


def rescore(runs: list[dict], k: int, epochs: int, procs: int, how: str) -> None:
    """Set every run's ``rescored``: its ``k`` front points (:func:`front_points`) at the reference fidelity.
    Resumable: each finished point is appended to ``RESCORED`` and not trained again."""
    def key(method: str, seed: int, trial: int, space: str) -> tuple:
        return method, seed, trial, space, epochs

    done = {key(r["method"], r["seed"], r["trial"], r["space"]): r
            for r in _common.read_jsonl(RESCORED) if r["epochs"] == epochs}
    wanted = {id(r): front_points(r, k, how) for r in runs}
    jobs = [(r["method"], r["seed"], f, r["space"], epochs) for r in runs for f in wanted[id(r)]
            if key(r["method"], r["seed"], f["trial"], r["space"]) not in done]
    if jobs:
        _common.console.print(f"re-scoring {len(jobs)} front points at {epochs} epochs on the whole training part")
        for row in _common.run_appending(jobs, rescore_job, procs, RESCORED, _describe):
            done[key(row["method"], row["seed"], row["trial"], row["space"])] = row
    for r in runs:
        r["rescored"] = [done[key(r["method"], r["seed"], f["trial"], r["space"])] for f in wanted[id(r)]]


def _describe(row: dict) -> str:
    return (f"{row['method']} seed {row['seed']} trial {row['trial']}: proxy {row['proxy'][0]:.3f} -> reference "
            f"{row['reference'][0]:.3f} ({row['seconds']:.0f} s)")


def load_runs() -> list[dict]:
    return _common.read_jsonl(RUNS)


def sd(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=["default", "random"], choices=list(METHODS))
    p.add_argument("--ref-energy", type=float, default=None, help="uJ; default 1.01 x the largest completed energy")
    p.add_argument("--rescore", type=int, default=0, help="train each front's K most accurate points at reference")
    p.add_argument("--ref-epochs", type=int, default=6, help="the reference fidelity: reference_table's 6 epochs")
    p.add_argument("--procs", type=int, default=2, help="processes for --rescore (one thread each)")
    p.add_argument("--rescore-points", choices=["top", "spread"], default="top",
                   help="the K most accurate front points, or K spread along the front by energy")
    p.add_argument("--fresh", action="store_true", help="ignore the runs already recorded")
    p.add_argument("--runs-only", action="store_true", help="run what is missing, print nothing else")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if a.fresh and RUNS.exists():
        RUNS.unlink()
    have = {(r["method"], r["seed"]) for r in load_runs() if r["budget"] == a.budget and r["space"] == a.space}
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    for seed in a.seeds:  # interleaved: a stopped benchmark has every method at the same seeds
        for m in a.methods:
            if (m, seed) in have:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                r = run(m, seed, a, Path(tmp))
            with RUNS.open("a") as f:
                f.write(json.dumps(r) + "\n")
    if a.runs_only:
        return
    runs = [r for r in load_runs() if r["budget"] == a.budget and r["space"] == a.space and r["method"] in a.methods
            and r["seed"] in a.seeds]
    if a.rescore:
        rescore(runs, a.rescore, a.ref_epochs, a.procs, a.rescore_points)
    ref = a.ref_energy or 1.01 * max(e[2][1] for r in runs for e in r["events"] if e[2] is not None)
    ref_r = max([ref] + [1.01 * x["reference"][1] for r in runs for x in r.get("rescored", [])])
    for r in runs:
        r["curve"] = hv_curve(r["events"], ref)
        r["final_hv"] = r["curve"][-1][2]
    by = {m: sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"]) for m in a.methods}
    rand_runs = {r["seed"]: r for r in by.get("random", [])}
    rand = statistics.mean(r["final_hv"] for r in rand_runs.values()) if rand_runs else None
    checkpoints = [n for n in range(10, a.budget + 1, 10)]
    rows = []
    for m, rs in by.items():
        if not rs:
            continue
        finals = [r["final_hv"] for r in rs]
        need = [first_reaching(r["curve"], rand, 0) if rand else None for r in rs]
        need_s = [first_reaching(r["curve"], rand, 1) if rand else None for r in rs]
        beats = [r["final_hv"] >= rand_runs[r["seed"]]["final_hv"] for r in rs if r["seed"] in rand_runs]
        anytime = {n: statistics.mean(hv_at(r["curve"], n) for r in rs) / rand for n in checkpoints} if rand else {}
        row = {"method": m, "seeds": [r["seed"] for r in rs], "final_hv_per_seed": finals,
               "final_hv_mean": statistics.mean(finals), "final_hv_sd": sd(finals),
               "hv_vs_random": statistics.mean(finals) / rand if rand else None,
               "seeds_at_or_above_random_same_seed": f"{sum(beats)}/{len(beats)}",
               "trials_to_random_final": need, "seconds_to_random_final": need_s,
               "max_fraction_to_random_final": max((n / a.budget if n is not None else float("inf")) for n in need)
               if rand else None,
               "anytime_share_of_random_final": anytime,
               "wall_s_mean": statistics.mean(r["wall_s"] for r in rs), "wall_s_sd": sd([r["wall_s"] for r in rs]),
               "complete_mean": statistics.mean(sum(e[2] is not None for e in r["events"]) for r in rs),
               "duplicates_mean": statistics.mean(r.get("duplicates", 0) for r in rs)}
        if all("rescored" in r for r in rs):
            hv_ref = [hypervolume_2d([tuple(x["reference"]) for x in r["rescored"]], ref_r) for r in rs]
            best = [max(x["reference"][0] for x in r["rescored"]) for r in rs]
            row["reference_hv_top_points"] = {"per_seed": hv_ref, "mean": statistics.mean(hv_ref), "sd": sd(hv_ref),
                                              "points": a.rescore, "which": a.rescore_points, "epochs": a.ref_epochs,
                                              "best_reference_accuracy_per_seed": best}
        rows.append(row)
    _common.table(f"{a.space}, budget {a.budget}, seeds {a.seeds}, {a.workers} workers; HV reference: accuracy 0, "
                  f"{ref:.4f} uJ",
                  ["method", "final HV mean ± sd", "x random", ">= random (same seed)", "trials to random's HV",
                   "wall s", "complete", "dups"],
                  [[r["method"], f"{r['final_hv_mean']:.3f} ± {r['final_hv_sd']:.3f}", r["hv_vs_random"],
                    r["seeds_at_or_above_random_same_seed"],
                    " ".join("-" if n is None else str(n) for n in r["trials_to_random_final"]),
                    f"{r['wall_s_mean']:.0f} ± {r['wall_s_sd']:.0f}", r["complete_mean"], r["duplicates_mean"]]
                   for r in rows])
    if rand:
        _common.table("anytime: mean HV after n trials / random's mean final HV",
                      ["method", *[str(n) for n in checkpoints]],
                      [[r["method"], *[r["anytime_share_of_random_final"][n] for n in checkpoints]] for r in rows])
    if any("reference_hv_top_points" in r for r in rows):
        which = "most accurate points" if a.rescore_points == "top" else "points spread along the front by energy"
        _common.table(f"fronts re-scored at the reference fidelity ({a.rescore} {which} each, "
                      f"{a.ref_epochs} epochs; HV reference: accuracy 0, {ref_r:.4f} uJ)",
                      ["method", "HV per seed", "mean ± sd", "best reference accuracy per seed"],
                      [[r["method"], " ".join(f"{x:.3f}" for x in r["reference_hv_top_points"]["per_seed"]),
                        f"{r['reference_hv_top_points']['mean']:.3f} ± {r['reference_hv_top_points']['sd']:.3f}",
                        " ".join(f"{x:.3f}" for x in r["reference_hv_top_points"]["best_reference_accuracy_per_seed"])]
                       for r in rows if "reference_hv_top_points" in r])
    d = next((r for r in rows if r["method"] == "default"), None)
    frac = d["max_fraction_to_random_final"] if d and rand else None
    every = d is not None and d["seeds_at_or_above_random_same_seed"].split("/")[0] == \
        d["seeds_at_or_above_random_same_seed"].split("/")[1]
    goals = {
        "default_fraction_to_random_final_every_seed": {"goal": "<= 0.40", "value": frac,
                                                        "met": frac is not None and frac <= 0.4},
        "default_final_hv_at_least_random_every_seed": {"goal": "every seed", "value":
                                                        d["seeds_at_or_above_random_same_seed"] if d else None,
                                                        "met": bool(every)},
    }
    summary = (f"default: {d['hv_vs_random']:.2f}x random's mean final HV; >= random in "
               f"{d['seeds_at_or_above_random_same_seed']} seeds; reaches random's mean final HV after at most "
               f"{frac:.0%} of the budget (goal <= 40 %, inf = some seed never)" if d and rand else
               "incomplete method set: see the table")
    _common.record("search_efficiency", a, rows, summary, goals=goals, reference_energy_uj=ref,
                   rescored_reference_energy_uj=ref_r if a.rescore else None,
                   runs=[{k: v for k, v in r.items() if k not in ("events", "curve")} for r in runs])


if __name__ == "__main__":
    main()
