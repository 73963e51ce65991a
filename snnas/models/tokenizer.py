"""Spiking patch splitting: images or event frames ``[T, B, C, H, W]`` to spike tokens ``[T, B, N, D]``.

``SPS`` follows Spikformer: four Conv-BN-LIF stages with channels D/8, D/4, D/2, D, a max-pool after each of
the last log2(patch_size) stages, then a relative-position Conv-BN-LIF added to its input. ``GLSPS`` (spec
§2.2, best reading of §6.9) adds, in every stage, a dilated 3x3 Conv-BN branch to the standard branch
*before* the neuron, so each stage's LIF integrates local and global (dilated) features together.
"""

from __future__ import annotations

import torch
from torch import nn

from snnas.config import ArchConfig
from snnas.models._neurons import make_lif

__all__ = ["SPS", "GLSPS", "MembraneSum"]


class ConvBN(nn.Module):
    """3x3 Conv (no bias) + BatchNorm2d with time folded into the batch."""

    def __init__(self, c_in: int, c_out: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1 and x.stride(0) == 0 and torch.is_grad_enabled():
            # Direct encoding while training: the T frames are one image repeated (an expanded view), so
            # Conv-BN runs once and is expanded. BN's batch statistics are those of the repeated batch, and
            # autograd sums the T gradients, as before. Inference and energy counting (no grad) still run all T
            # frames, so the counted encoding ops are unchanged.
            y = self.bn(self.conv(x[0]))
            return y.unsqueeze(0).expand(x.shape[0], *y.shape)
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.reshape(*x.shape[:2], *y.shape[1:])


class MembraneSum(nn.Module):
    """Synaptic currents of parallel branches summed into one membrane (a module so counters can see it)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    def snn_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, int]:
        """Nothing: a deployment folds the sum, both branches' synaptic events (counted there) accumulating
        into the same potential."""
        return {}


class _Stage(nn.Module):
    def __init__(self, cfg: ArchConfig, c_in: int, c_out: int, dilation: int | None, pool: bool) -> None:
        super().__init__()
        self.local = ConvBN(c_in, c_out)
        self.dilated = ConvBN(c_in, c_out, dilation) if dilation else None
        self.merge = MembraneSum()
        self.lif = make_lif(cfg)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.local(x)
        if self.dilated is not None:
            u = self.merge(u, self.dilated(x))  # summed at the membrane, before the neuron
        s = self.lif(u)
        if self.pool is not None:
            y = self.pool(s.flatten(0, 1))
            s = y.reshape(*s.shape[:2], *y.shape[1:])
        return s


class SPS(nn.Module):
    """Spikformer's spiking patch splitting (no dilated branch)."""

    dilated = False

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        chans = [cfg.in_channels, d // 8, d // 4, d // 2, d]
        n_down = cfg.patch_size.bit_length() - 1
        dil = cfg.tokenizer_dilation if self.dilated else None
        self.stages = nn.Sequential(*[
            _Stage(cfg, chans[i], chans[i + 1], dil, pool=i >= 4 - n_down) for i in range(4)
        ])
        self.rpe = ConvBN(d, d)
        self.rpe_lif = make_lif(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        x = x + self.rpe_lif(self.rpe(x))
        return x.flatten(3).transpose(2, 3)  # [T, B, C, H, W] -> [T, B, N, D]


class GLSPS(SPS):
    """Global-Local SPS: every stage sums a standard and a dilated Conv-BN branch before its LIF."""

    dilated = True
