"""What the MLP-ratio reading costs: each registered paper model at our ratio 9.4 and at the lineage's 4.

``snnas.models.zoo.PAPER_MLP_RATIO = 9.4`` is chosen so the ImageNet parameter counts match the paper's;
Spikformer and the Spike-driven Transformer use 4. For every registered paper model this builds the
registered config and ``cfg.replace(mlp_ratio=4.0)`` and reports, for both: parameters (total, and the MLP
blocks' share), the counted energy per image by ``--profile`` (the share spent in the MLP blocks), the usual
Spikformer-lineage convention's energy on the same firing rates (``bench/energy_convention.py``; the
convention the paper's mJ figures follow), and the dense ANN-equivalent energy (MACs x E_MAC, independent of
inputs and weights: the stable number).

Energy convention (the one ``docs/energy.md`` uses for untrained models): seeded untrained weights
(``torch.manual_seed(--seed)`` before building), BatchNorm statistics recalibrated by ``estimate`` with one
train-mode pass on the calibration batch, then one eval-mode counted pass. The calibration batch is the first
``--images`` test images of ``--dataset`` (default fashion-mini, grey 28x28) resized to the model's input and
repeated over its input channels, so the model keeps its registered shape (3 RGB channels, 1000 / 10
classes; the DVS model's two polarity channels get the same static frame, repeated over its 16 timesteps:
not event data). With 1-2 images the firing rates are those of an untrained network on a handful of grey
images; they say where the ratio moves the cost, not what a trained model spends. Deterministic: same
seed, images and ``--threads`` give the same numbers.

    python bench/mlp_ratio.py [--models snnvit_cifar ...] [--ratio 4.0] [--images 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _common
import torch
from energy_convention import conventional_uj

from snnas.data import adapt_config, calibration_batch
from snnas.energy import estimate, load_profile
from snnas.models import create_model, get_entry
from snnas.models.zoo import PAPER_MLP_RATIO

PAPER_MODELS = ["snnvit_cifar", "snnvit_8_384", "snnvit_8_512", "snnvit_cifar10_dvs"]
PAPER_MJ = {"snnvit_8_384": 20.83, "snnvit_8_512": 35.75}  # the paper's energy (zoo.py docstrings)


def calibration_images(cfg, dataset: str, n: int) -> tuple[torch.Tensor, str]:
    """The first ``n`` test images of ``dataset`` at ``cfg``'s resolution, repeated to its input channels."""
    x, described = calibration_batch(adapt_config(cfg, dataset), dataset, n)
    if x.ndim != 4:
        raise SystemExit(f"--dataset {dataset}: static images needed (got event frames)")
    if x.shape[1] != cfg.in_channels:
        if x.shape[1] != 1:
            raise SystemExit(f"--dataset {dataset}: {x.shape[1]} channels cannot feed {cfg.in_channels}")
        x = x.expand(-1, cfg.in_channels, -1, -1).contiguous()
        described += f", repeated to {cfg.in_channels} channels"
    return x, described


def measure(name: str, cfg, a: argparse.Namespace, e_pj: dict[str, float]) -> dict[str, Any]:
    t0 = time.perf_counter()
    x, described = calibration_images(cfg, a.dataset, a.images)
    torch.manual_seed(a.seed)
    net = create_model(cfg)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    mlp_params = sum(p.numel() for n, p in net.named_parameters() if p.requires_grad and ".mlp." in n)
    report = estimate(net, x, a.profile, data=described)  # recalibrates BN: the convention below sees the same
    mlp_uj = sum(r.energy_pj for r in report.layers if ".mlp." in f".{r.layer}.") * 1e-6
    conv = conventional_uj(net, x, e_pj["mac"], e_pj["sop"]) if a.convention else None
    return {"model": name, "mlp_ratio": cfg.mlp_ratio, "mlp_hidden": cfg.mlp_hidden, "T": cfg.T,
            "params": params, "mlp_params": mlp_params, "mlp_param_share": mlp_params / params,
            "paper_params": get_entry(name).paper_params, "energy_uj": report.total_uj,
            "energy_uj_by_kind": report.energy_uj, "mlp_energy_uj": mlp_uj,
            "mlp_energy_share": mlp_uj / report.total_uj,
            "convention_uj": conv, "ann_macs": report.ann_macs, "ann_energy_uj": report.ann_energy_uj,
            "paper_mj": PAPER_MJ.get(name), "data": described, "bn_recalibrated": report.provenance["bn_recalibrated"],
            "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=PAPER_MODELS, default=PAPER_MODELS)
    p.add_argument("--ratio", type=float, default=4.0, help="the ratio to compare with the registered one")
    p.add_argument("--dataset", default="fashion-mini", help="calibration images (a static, 1- or C-channel set)")
    p.add_argument("--images", type=int, default=2, help="calibration images per model (224 px at T=4 is heavy)")
    p.add_argument("--profile", default="cmos45")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-convention", dest="convention", action="store_false",
                   help="skip the usual-convention energy (one eval pass less per model)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    e_pj = load_profile(a.profile).energy_pj
    rows = []
    for name in a.models:
        cfg = get_entry(name).config
        for ratio in dict.fromkeys((cfg.mlp_ratio, a.ratio)):  # the registered ratio first, once
            row = measure(name, cfg.replace(mlp_ratio=ratio), a, e_pj)
            row["registered"] = ratio == cfg.mlp_ratio
            rows.append(row)
            _common.console.print(f"[dim]{name} ratio {ratio:g}: {row['seconds']:.1f} s[/dim]")
    base = {r["model"]: r for r in rows if r["registered"]}
    for r in rows:
        b = base.get(r["model"])
        r["params_vs_registered"] = r["params"] / b["params"] - 1 if b else None
        r["energy_vs_registered"] = r["energy_uj"] / b["energy_uj"] - 1 if b else None
        r["params_vs_paper"] = r["params"] / r["paper_params"] - 1 if r["paper_params"] else None

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:+.1f} %"

    _common.table(f"MLP ratio {PAPER_MLP_RATIO:g} (registered) vs {a.ratio:g}: untrained, BN recalibrated on "
                  f"{a.images} {a.dataset} image(s), {a.profile}, seed {a.seed}",
                  ["model", "ratio", "params M", "vs paper", "MLP params", "uJ/image", "vs registered", "MLP uJ",
                   "convention uJ", "paper uJ", "ANN uJ"],
                  [[r["model"], r["mlp_ratio"], r["params"] / 1e6, pct(r["params_vs_paper"]),
                    f"{100 * r['mlp_param_share']:.0f} %", r["energy_uj"], pct(r["energy_vs_registered"]),
                    f"{100 * r['mlp_energy_share']:.0f} %", r["convention_uj"],
                    r["paper_mj"] * 1e3 if r["paper_mj"] and r["registered"] else None,
                    r["ann_energy_uj"]] for r in rows])
    low = [r for r in rows if not r["registered"]]
    summary = "; ".join(f"{r['model']}: ratio {a.ratio:g} gives {r['params'] / 1e6:.2f} M params "
                        f"({pct(r['params_vs_registered'])}) and {r['energy_uj']:.0f} uJ/image "
                        f"({pct(r['energy_vs_registered'])}) vs {base[r['model']]['params'] / 1e6:.2f} M, "
                        f"{base[r['model']]['energy_uj']:.0f} uJ at {PAPER_MLP_RATIO:g}" for r in low)
    _common.record("mlp_ratio", a, rows, summary or "no model compared")


if __name__ == "__main__":
    main()
