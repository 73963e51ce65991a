"""What Pareto successive halving buys: wall time to a given hypervolume, with and without pruning.

Runs the same search twice (same space, sampler and seed; one worker), once with pruning and once
without, and prints for each: total wall time, final hypervolume of the feasible completed trials, and the
wall time at which the running hypervolume first reached 50 / 80 / 95 % of the no-pruning run's final
hypervolume. Hypervolume is over (validation accuracy up, energy down) with reference point accuracy 0 and
the largest energy seen in either run.

    python bench/pruning_gain.py [--space edge_tiny] [--budget 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

from optuna.trial import TrialState

from snnas.search import SearchOptions, hypervolume_2d, search

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


def run(space: str, budget: int, seed: int, prune: bool) -> tuple[float, list[tuple[float, float, float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            t0 = time.time()
            study = search(SearchOptions(space=space, budget=budget, seed=seed, prune=prune, workers=1), quiet=True)
            wall = time.time() - t0
        finally:
            os.chdir(cwd)
        points = [(t.datetime_complete.timestamp() - t0, t.values[0], t.values[1]) for t in study.get_trials()
                  if t.state == TrialState.COMPLETE and t.values]
    return wall, sorted(points)


def time_to(points: list[tuple[float, float, float]], target: float, ref: float) -> float | None:
    for i in range(len(points)):
        if hypervolume_2d([(a, e) for _, a, e in points[: i + 1]], ref) >= target:
            return points[i][0]
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_tiny")
    p.add_argument("--budget", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    runs = {name: run(args.space, args.budget, args.seed, prune) for name, prune in (("no pruning", False),
                                                                                    ("pruning", True))}
    ref = max(e for _, pts in runs.values() for _, _, e in pts) * 1.01
    final = hypervolume_2d([(a, e) for _, a, e in runs["no pruning"][1]], ref)
    print(f"{args.space}, budget {args.budget}, seed {args.seed}, 1 worker; hypervolume ref: accuracy 0, "
          f"{ref:.4f} uJ; no-pruning final hypervolume {final:.5f}")
    for name, (wall, pts) in runs.items():
        hv = hypervolume_2d([(a, e) for _, a, e in pts], ref)
        marks = []
        for frac in (0.5, 0.8, 0.95):
            t = time_to(pts, frac * final, ref)
            marks.append(f"{int(frac * 100)}%: " + (f"{t:.0f} s" if t is not None else "not reached"))
        print(f"  {name:10s}: wall {wall:.0f} s, {len(pts)} completed, final hypervolume {hv:.5f} "
              f"({hv / final:.0%}); time to " + ", ".join(marks))


if __name__ == "__main__":
    main()
