"""Proxy fidelity: does the search's cheap score rank architectures like a 10x longer training does?

Samples ``--archs`` feasible architectures from the space (Optuna's RandomSampler, seeded), trains each
through every proxy rung with no pruning (the search's own ``ProxyTrainer``: same split, schedule, BN
recalibration and scoring), then trains it again from scratch for ``--ref-scale`` times the training
images of rung 1 (all of the training part, ``ref-scale x`` rung 1's epochs x fraction epochs), and prints
Kendall's tau between each rung's validation accuracy and the long training's (goal: tau >= 0.7 at rung 1).
Two processes share the architectures (``--procs``), one torch thread each.

    python bench/proxy_fidelity.py [--space edge_small --archs 20 --ref-scale 10 --procs 2 --seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing as mp
import time

import _common
import optuna
from reference_table import sample  # the same uniform draws (the table's first 20 are these)


def work(job: tuple[int, dict, str, float, int, bool]) -> dict:
    import torch

    from snnas.search import ProxyTrainer, load_space
    from snnas.search.space import Rung

    i, params, space_name, ref_scale, seed, compiled = job
    torch.set_num_threads(1)
    sp = load_space(space_name)
    r1 = sp.rungs[min(1, len(sp.rungs) - 1)]
    ref_epochs = max(1, round(ref_scale * r1.epochs * r1.fraction))
    ref_space = dataclasses.replace(sp, rungs=(Rung(epochs=ref_epochs, fraction=1.0),))
    cfg = sp.config_from_params(params, None)
    t0 = time.perf_counter()
    proxy = []
    ProxyTrainer(sp, device="cpu", compile_neurons=compiled).run(cfg, seed + i, proxy.append)
    t1 = time.perf_counter()
    ref = ProxyTrainer(ref_space, device="cpu", compile_neurons=compiled).run(cfg, seed + i)
    t2 = time.perf_counter()
    _common.console.print(f"arch {i:2d}: proxy {' '.join(f'{r.val_accuracy:.3f}' for r in proxy)} "
                          f"({t1 - t0:.0f} s), {ref_epochs}-epoch reference {ref.val_accuracy:.3f} ({t2 - t1:.0f} s)")
    return {"arch": i, "params": params, "arch_id": cfg.id, "rungs": [r.val_accuracy for r in proxy],
            "rung_energy_uj": [r.energy_uj for r in proxy], "reference": ref.val_accuracy,
            "reference_energy_uj": ref.energy_uj, "reference_epochs": ref_epochs,
            "proxy_s": t1 - t0, "reference_s": t2 - t1}


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either list handled)."""
    conc = disc = tx = ty = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            a, b = x[i] - x[j], y[i] - y[j]
            if a == 0 and b == 0:
                continue
            if a == 0:
                tx += 1
            elif b == 0:
                ty += 1
            elif (a > 0) == (b > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--archs", type=int, default=20)
    p.add_argument("--ref-scale", type=float, default=10.0, help="reference = this many times rung 1's images")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile-neurons", action=argparse.BooleanOptionalAction, default=False,
                   help="train with fused CPU neurons (off: as searches run by default)")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    archs = sample(a.space, a.archs, a.seed)
    jobs = [(i, prm, a.space, a.ref_scale, a.seed, a.compile_neurons) for i, prm in enumerate(archs)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(a.procs) as pool:
        rows = sorted(pool.map(work, jobs, chunksize=1), key=lambda r: r["arch"])
    wall = time.perf_counter() - t0
    ref = [r["reference"] for r in rows]
    taus = [kendall_tau([r["rungs"][k] for r in rows], ref) for k in range(len(rows[0]["rungs"]))]
    _common.table(f"{a.space}: {len(rows)} architectures, reference = {rows[0]['reference_epochs']} epochs on the "
                  f"full training part ({a.ref_scale:g}x rung 1's images); {wall:.0f} s",
                  ["score", "Kendall tau vs reference"],
                  [[f"rung {k} val accuracy", t] for k, t in enumerate(taus)])
    tau1 = taus[min(1, len(taus) - 1)]
    _common.record("proxy_fidelity", a, rows,
                   f"Kendall tau vs the {rows[0]['reference_epochs']}-epoch reference: "
                   + ", ".join(f"rung {k} {t:.2f}" for k, t in enumerate(taus))
                   + f" (goal >= 0.7 at rung 1: {'met' if tau1 >= 0.7 else 'missed'})",
                   goals={"kendall_tau_rung1": {"goal": ">= 0.7", "value": tau1, "met": tau1 >= 0.7}},
                   taus=taus, wall_s=wall)


if __name__ == "__main__":
    main()
