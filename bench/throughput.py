"""Proxy-training throughput: an snnas SNN-ViT vs spikingjelly's built-in Spikformer, side by side (goal >= 2x).

Both models get the same depth, width, heads, MLP ratio, T, patch size and token grid, the same fashion-mini
batches (in memory, augmented as the search trains), the same AdamW step and the same torch threads, and run
in one process, interleaved round by round so that a noisy neighbour slows both. Rows:

* ``snnas sssa`` - the model the search trains (SSSA-V2, GL-SPS tokenizer off, so the stem matches), as a
  search runs it by default;
* ``snnas sssa, fused neurons`` - the same with ``--compile-neurons on`` (CPU only; compiled before timing);
* ``snnas ssa``  - our Spikformer-equivalent (SSA, SPS): same equations as the built-in one;
* ``spikingjelly Spikformer`` - ``spikingjelly.activation_based.model.Spikformer``, logits averaged over T.

Images/s counts forward + backward + optimiser step (training) and a no-grad forward (eval); the ratio is
snnas sssa over Spikformer, the median over rounds.

    python bench/throughput.py [--img 16 --dim 64 --depth 2 --heads 4 --T 4 --batch 64 --threads 2 --rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.model import Spikformer

from snnas import ArchConfig, create_model
from snnas.data import create_dataset
from snnas.models import compile_neurons


class _MeanOverT(torch.nn.Module):
    """Spikformer's head emits ``[T, B, classes]``; the loss wants ``[B, classes]``."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self.net)
        return self.net(x).mean(0)


def build(name: str, a: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(0)
    common = dict(T=a.T, depth=a.depth, embed_dim=a.dim, num_heads=a.heads, mlp_ratio=a.mlp_ratio,
                  img_size=a.img, patch_size=4, in_channels=1, num_classes=10)
    if name.startswith("snnas sssa"):
        return create_model(ArchConfig(**common, attention="sssa", tokenizer="sps"))
    if name == "snnas ssa":
        return create_model(ArchConfig(**common, attention="ssa", tokenizer="sps"))
    return _MeanOverT(Spikformer(T=a.T, in_channels=1, img_size_h=a.img, img_size_w=a.img, patch_size=4,
                                 num_classes=10, embed_dims=a.dim, num_heads=a.heads, mlp_ratio=a.mlp_ratio,
                                 depths=a.depth))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--img", type=int, default=16, help="input side; 16 gives edge_small's 4x4 tokens, 32 gives 8x8")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--mlp-ratio", type=float, default=4.0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=8, help="training steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the fused CPU neuron kernels (compiling them takes a minute or two)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    ds = create_dataset("fashion-mini", split="train", augment=True, img_size=a.img)
    g = torch.Generator().manual_seed(0)
    batches = [(x.to(dev), y.to(dev)) for _, (x, y) in zip(range(a.steps), ds.batches(a.batch, True, g),
                                                           strict=False)]
    names = ["snnas sssa", "snnas sssa, fused neurons", "snnas ssa", "spikingjelly Spikformer"]
    if dev.type != "cpu" or not a.fused:
        names.remove("snnas sssa, fused neurons")  # the fused kernels are a CPU path
    nets = {n: build(n, a).to(dev) for n in names}
    opts = {n: torch.optim.AdamW(nets[n].parameters(), lr=1e-3) for n in names}
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def train_round(n: str) -> float:
        compile_neurons(n.endswith("fused neurons"))
        net, opt = nets[n], opts[n]
        net.train()
        sync()
        t0 = time.perf_counter()
        for x, y in batches:
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        return len(batches) * a.batch / (time.perf_counter() - t0)

    def eval_round(n: str) -> float:
        compile_neurons(n.endswith("fused neurons"))
        net = nets[n]
        net.eval()
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            for x, _ in batches:
                net(x)
        sync()
        return len(batches) * a.batch / (time.perf_counter() - t0)

    for n in names:  # warm-up: allocator, oneDNN primitives, SSSA's calibration
        train_round(n)
        eval_round(n)
    tr: dict[str, list[float]] = {n: [] for n in names}
    ev: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(a.rounds):
        for n in names:
            tr[n].append(train_round(n))
            ev[n].append(eval_round(n))
    base_tr, base_ev = statistics.median(tr[names[-1]]), statistics.median(ev[names[-1]])
    rows = []
    for n in names:
        params = sum(q.numel() for q in nets[n].parameters())
        rows.append({"model": n, "params": params, "train_img_s": statistics.median(tr[n]),
                     "train_img_s_min": min(tr[n]), "train_img_s_max": max(tr[n]),
                     "eval_img_s": statistics.median(ev[n]), "train_ratio": statistics.median(tr[n]) / base_tr,
                     "eval_ratio": statistics.median(ev[n]) / base_ev})
    side = a.img // 4
    _common.table(f"training throughput, {side}x{side} tokens, D={a.dim}, depth {a.depth}, {a.heads} heads, T={a.T}, "
                  f"batch {a.batch}, {a.threads} threads, {a.device}",
                  ["model", "params", "train img/s", "(min-max)", "eval img/s", "train x", "eval x"],
                  [[r["model"], r["params"], r["train_img_s"], f"{r['train_img_s_min']:.0f}-{r['train_img_s_max']:.0f}",
                    r["eval_img_s"], r["train_ratio"], r["eval_ratio"]] for r in rows])
    ratio = rows[0]["train_ratio"]
    fused = next((r["train_ratio"] for r in rows if r["model"].endswith("fused neurons")), None)
    name = "throughput" + ("" if a.img == 16 else f"-{side}x{side}") + ("" if a.device == "cpu" else f"-{a.device}")
    _common.record(name, a, rows,
                   f"snnas SSSA SNN-ViT trains {ratio:.2f}x the images/s of spikingjelly's Spikformer"
                   + (f", {fused:.2f}x with fused neurons" if fused else "")
                   + f" (goal >= 2x: {'met' if max(ratio, fused or 0) >= 2 else 'missed'}); our SSA model "
                   f"{rows[-2]['train_ratio']:.2f}x",
                   goals={"train_ratio_vs_spikformer": {"goal": ">= 2", "value": ratio, "met": ratio >= 2},
                          "train_ratio_fused": {"goal": ">= 2", "value": fused, "met": bool(fused and fused >= 2)}})


if __name__ == "__main__":
    main()
