"""Our counted energy of a Spikformer-lineage config beside the number the usual convention gives.

The usual convention (Spikformer, SDT, QKFormer papers): E = E_MAC * FLOPs(encoding conv) +
E_AC * sum_l fr_l * FLOPs_l over the other Linear/Conv layers, FLOPs counted over T, fr_l the firing rate of
layer l's input; attention matmuls, residual sums and neuron updates are left out, and every non-encoding
layer is treated as spike-driven. Both numbers use the same model, the same calibration batch and hence the
same firing rates, and the cmos45 constants.

    python bench/energy_convention.py [--model spikformer-4-384] [--batch 16]
"""

from __future__ import annotations

import argparse
import logging

import torch
from torch import nn

from snnas import ArchConfig, create_model
from snnas.data import adapt_config, calibration_batch
from snnas.energy import estimate, load_profile

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

REFERENCES = {
    # Spikformer-4-384 for CIFAR (Zhou et al., ICLR 2023): SSA, SPS, patch 4 on 32x32, mlp 4, T=4
    "spikformer-4-384": ArchConfig(T=4, depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0, img_size=32,
                                   patch_size=4, attention="ssa", tokenizer="sps"),
    "snnvit-sssa-4-384": ArchConfig(T=4, depth=4, embed_dim=384, num_heads=12, mlp_ratio=4.0, img_size=32,
                                    patch_size=4, attention="sssa", tokenizer="gl_sps"),
}


def conventional_uj(net: nn.Module, x: torch.Tensor, e_mac: float, e_ac: float) -> float:
    """The convention's energy per image, from dense FLOPs and input firing rates of Linear/Conv layers."""
    layers: list[tuple[str, float, float]] = []  # (name, dense MACs, input firing rate)

    def hook(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        fan_in = m.in_features if isinstance(m, nn.Linear) else m.in_channels // m.groups * m.kernel_size[0] * \
            m.kernel_size[1]
        layers.append((names[m], float(out.numel() * fan_in), float(inputs[0].ne(0).float().mean())))

    names = {m: n for n, m in net.named_modules()}
    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    net.eval()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    n_images = x.shape[0] if x.ndim == 4 else x.shape[1]
    pj = 0.0
    for name, flops, rate in layers:
        encoding = name.startswith("tokenizer.stages.0.")
        pj += flops * e_mac if encoding else flops * rate * e_ac
    return pj / n_images * 1e-6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(REFERENCES), nargs="+", default=sorted(REFERENCES))
    p.add_argument("--dataset", default="fashion-mini")
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(2)
    e = load_profile("cmos45").energy_pj
    for name in args.model:
        torch.manual_seed(0)
        cfg = adapt_config(REFERENCES[name], args.dataset)
        x, described = calibration_batch(cfg, args.dataset, args.batch)
        net = create_model(cfg)
        report = estimate(net, x, data=described)  # also recalibrates BN: the same rates for both numbers
        conv = conventional_uj(net, x, e["mac"], e["sop"])
        print(f"{name} ({sum(q.numel() for q in net.parameters()) / 1e6:.2f} M params) on {described}, "
              f"BN recalibrated (untrained weights):")
        print(f"  snnas (counted):   {report.total_uj:.3f} uJ/image  = SOP {report.energy_uj['sop']:.3f} + MAC "
              f"{report.energy_uj['mac']:.3f} + AC {report.energy_uj['ac']:.3f} (+ neurons "
              f"{report.energy_uj['neuron_update']:.3f})")
        print(f"  usual convention:  {conv:.3f} uJ/image   ratio snnas/convention = {report.total_uj / conv:.2f}")
        mixer = sum(r.energy_pj for r in report.layers if r.kind in ("SSA", "SDSA", "SSSA", "SaccadicNeuron",
                                                                     "TemporalMixing")) * 1e-6
        residual_mac = sum(r.mac * e["mac"] for r in report.layers if r.kind == "Linear" and r.mac) * 1e-6
        print(f"  where they differ: token mixers {mixer:.3f} uJ (the convention omits them); Linear layers fed "
              f"residual sums of spikes, counted as MACs: {residual_mac:.3f} uJ; ANN equivalent "
              f"{report.ann_energy_uj:.3f} uJ")


if __name__ == "__main__":
    main()
