"""Time of the token mixer alone (SSSA-V2, SSSA-V1, SSA, SDSA) as the token count N grows.

Each mixer receives the same binary Q, K, V spikes ``[T, B, h, N, d]`` and does only its token mixing
(salience + saccadic neuron + gating for SSSA; (QK^T)V + LIF for SSA; sum(K*V) + LIF + gating for SDSA);
the Q/K/V/output projections, which cost O(N D^2) for every mixer, are left out. A linear mixer shows a
growth ratio near 4 for each 4x step in N; a quadratic one near 16.

    python bench/mixer_scaling.py [--dim 128 --heads 4 --T 4 --batch 8 --backward]
"""

from __future__ import annotations

import argparse

import _common
import torch
from spikingjelly.activation_based import functional
from torch.utils import benchmark

from snnas import ArchConfig
from snnas.models import SDSA, SSA, SSSA

MIXERS = {
    "sssa-v2": (SSSA, {"attention": "sssa", "sssa_version": "v2"}),
    "sssa-v1": (SSSA, {"attention": "sssa", "sssa_version": "v1"}),
    "ssa": (SSA, {"attention": "ssa"}),
    "sdsa": (SDSA, {"attention": "sdsa"}),
}


def time_mixer(name: str, n: int, args: argparse.Namespace) -> float:
    layer_type, fields = MIXERS[name]
    side = int(n**0.5)
    cfg = ArchConfig(T=args.T, depth=1, embed_dim=args.dim, num_heads=args.heads, img_size=side * 4, patch_size=4,
                     **fields)
    layer = layer_type(cfg)
    d = args.dim // args.heads
    g = torch.Generator().manual_seed(0)
    q, k, v = ((torch.rand(args.T, args.batch, args.heads, n, d, generator=g) < 0.15).float() for _ in range(3))
    if args.backward:
        q.requires_grad_(True)

    def step() -> None:
        functional.reset_net(layer)
        y = layer.mix(q, k, v)
        if args.backward:
            y.sum().backward()

    step()  # warm-up (and SSSA's scale initialisation)
    t = benchmark.Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return t.blocked_autorange(min_run_time=args.min_time).median


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=0.5, help="seconds of timing per cell")
    p.add_argument("--backward", action="store_true", help="time forward + backward")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name in MIXERS:
        times = [time_mixer(name, n, args) for n in args.tokens]
        rows.append({"mixer": name, "ms": dict(zip(args.tokens, (t * 1e3 for t in times), strict=True)),
                     "growth": [b / a for a, b in zip(times, times[1:], strict=False)]})
    _common.table(f"token-mixer time (ms), D={args.dim}, h={args.heads}, T={args.T}, B={args.batch}, "
                  f"{'fwd+bwd' if args.backward else 'fwd'}, {args.threads} threads",
                  ["mixer", *(f"N={n}" for n in args.tokens),
                   *(f"x{b // a} N: ratio" for a, b in zip(args.tokens, args.tokens[1:], strict=False))],
                  [[r["mixer"], *r["ms"].values(), *r["growth"]] for r in rows])
    g = {r["mixer"]: r["growth"][-1] for r in rows}
    _common.record("mixer_scaling", args, rows,
                   f"growth of the last {args.tokens[-1] // args.tokens[-2]}x step in N: "
                   + ", ".join(f"{k} {v:.1f}x" for k, v in g.items())
                   + " (linear ~ the step, quadratic ~ its square)")


if __name__ == "__main__":
    main()
