"""What energy counting costs inside real proxy trials (goal: <= 5 % of trial time).

Trains ``--archs`` architectures sampled from the space through every rung with the search's
``ProxyTrainer`` (no pruning) and times every call of the energy estimate inside them (one per rung, on
the space's calibration images), against each trial's total time; also against rung 0 alone, which is all a
pruned trial pays for.

    python bench/energy_overhead.py [--space edge_small --archs 6 --threads 2 --seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common
import optuna
import torch

import snnas.search._proxy as trainer_mod
from snnas.models import count_params
from snnas.search import ProxyTrainer, load_space


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--archs", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(a.threads)
    sp = load_space(a.space)
    timings: list[float] = []
    real = trainer_mod.estimate

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            timings.append(time.perf_counter() - t0)

    trainer_mod.estimate = timed
    trainer = ProxyTrainer(sp, device="cpu", threads=a.threads)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=a.seed))
    rows = []
    while len(rows) < a.archs:
        t = study.ask()
        cfg = sp.suggest(t, None)
        study.tell(t, 0.0)
        if sp.max_params is not None and count_params(cfg) > sp.max_params:
            continue
        timings.clear()
        rungs = []
        t0 = time.perf_counter()
        trainer.run(cfg, a.seed, rungs.append)
        total = time.perf_counter() - t0
        rows.append({"arch_id": cfg.id, "T": cfg.T, "depth": cfg.depth, "embed_dim": cfg.embed_dim,
                     "trial_s": total, "energy_s": sum(timings), "fraction": sum(timings) / total,
                     "rung0_s": rungs[0].seconds, "rung0_fraction": timings[0] / rungs[0].seconds})
    mean = statistics.mean(r["fraction"] for r in rows)
    mean0 = statistics.mean(r["rung0_fraction"] for r in rows)
    _common.table(f"{a.space}: energy estimate inside proxy trials ({sp.calibration_images} calibration images per "
                  f"rung, {a.threads} threads)",
                  ["arch", "trial s", "energy s", "share of trial", "share of rung 0"],
                  [[f"T={r['T']} depth={r['depth']} D={r['embed_dim']}", r["trial_s"], r["energy_s"],
                    f"{100 * r['fraction']:.1f} %", f"{100 * r['rung0_fraction']:.1f} %"] for r in rows])
    _common.record("energy_overhead", a, rows,
                   f"energy estimation is {100 * mean:.1f} % of a full trial's time (max "
                   f"{100 * max(r['fraction'] for r in rows):.1f} %) and {100 * mean0:.1f} % of a rung-0 (pruned) "
                   f"trial's (goal <= 5 %: {'met' if mean <= 0.05 else 'missed'})",
                   goals={"energy_share_of_trial": {"goal": "<= 0.05", "value": mean, "met": mean <= 0.05}})


if __name__ == "__main__":
    main()
