"""Optuna backend vs Ray backend on the same search: trial counts, states, attributes, front hypervolume.

Runs ``snnas search`` twice in fresh folders with the same space, budget, sampler and seed and the same
parallelism (``--workers P`` for Optuna, a local Ray instance with ``--max-concurrent P`` for Ray), then
prints per backend: wall time, trials by state, Pareto-front size, the front's hypervolume (accuracy up,
energy down; reference accuracy 0 and 1.01 x the largest energy either run saw), and how many trials were
proposed with identical parameters and seeds.

    python bench/backend_parity.py [--space edge_tiny] [--budget 24] [--parallel 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from snnas.search import counts_toward_budget, hypervolume_2d


def run(backend: str, space: str, budget: int, parallel: int, seed: int, folder: Path) -> tuple[float, optuna.Study]:
    args = ["--workers", str(parallel)] if backend == "optuna" else ["--backend", "ray", "--max-concurrent",
                                                                      str(parallel)]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", space, "--budget", str(budget),
                        "--seed", str(seed), "--study", "s", "--quiet", *args], cwd=folder, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{backend} run failed:\n{r.stderr[-3000:]}")
    return wall, optuna.load_study(study_name="s", storage=f"sqlite:///{folder / 'studies' / 's.db'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_tiny")
    p.add_argument("--budget", type=int, default=24)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("optuna", "ray"):
            folder = Path(tmp) / backend
            folder.mkdir()
            results[backend] = run(backend, a.space, a.budget, a.parallel, a.seed, folder)
        trials = {b: s.get_trials() for b, (_, s) in results.items()}
        fronts = {b: [tuple(t.values) for t in s.best_trials] for b, (_, s) in results.items()}
    ref = 1.01 * max(t.values[1] for ts in trials.values() for t in ts if t.state == TrialState.COMPLETE)
    print(f"{a.space}, budget {a.budget}, seed {a.seed}, {a.parallel} trials at once; hypervolume reference: "
          f"accuracy 0, {ref:.4f} uJ")
    print(f"{'backend':8} {'wall s':>7} {'counted':>7} {'complete':>8} {'pruned':>6} {'failed':>6} {'front':>5} "
          f"{'hypervolume':>11}")
    for b, (wall, _) in results.items():
        states = collections.Counter(t.state for t in trials[b])
        print(f"{b:8} {wall:7.1f} {sum(counts_toward_budget(t) for t in trials[b]):7d} "
              f"{states[TrialState.COMPLETE]:8d} {states[TrialState.PRUNED]:6d} {states[TrialState.FAIL]:6d} "
              f"{len(fronts[b]):5d} {hypervolume_2d(fronts[b], ref):11.5f}")
    same = sum(x.params == y.params and x.user_attrs.get("seed") == y.user_attrs.get("seed")
               for x, y in zip(trials["optuna"], trials["ray"], strict=False))
    keys = {b: {t.state.name: sorted(t.user_attrs) for t in ts} for b, ts in trials.items()}
    print(f"identical proposals (parameters and seed, by trial number): {same} of {a.budget}")
    print(f"same attribute names per state: {keys['optuna'] == keys['ray']}")


if __name__ == "__main__":
    main()
