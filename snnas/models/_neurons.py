"""Spiking neurons and surrogates, built from spikingjelly from an :class:`ArchConfig`."""

from __future__ import annotations

import logging

import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import nn

from snnas.config import ArchConfig

# spikingjelly registers its kernels as triton ops; CPU torch has no triton and logs a harmless warning.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

_SURROGATES = {
    "atan": surrogate.ATan,
    "sigmoid": surrogate.Sigmoid,
    "rect": surrogate.Rect,
    "erf": surrogate.Erf,
    "piecewise_quadratic": surrogate.PiecewiseQuadratic,
}


def make_surrogate(name: str) -> surrogate.SurrogateFunctionBase:
    """A spiking surrogate (Heaviside forward, smooth gradient backward) by its config name."""
    return _SURROGATES[name]()


def make_lif(cfg: ArchConfig, v_threshold: float | None = None) -> nn.Module:
    """A multi-step spikingjelly LIF node (hard reset to 0, detached reset), as in the Spikformer lineage."""
    return neuron.LIFNode(
        tau=float(cfg.neuron_tau),
        v_threshold=float(cfg.neuron_vth if v_threshold is None else v_threshold),
        surrogate_function=make_surrogate(cfg.surrogate),
        detach_reset=True,
        step_mode="m",
    )


class LinearBN(nn.Module):
    """Linear (no bias) then BatchNorm over channels for ``[..., C]`` tensors (time and tokens folded)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = self.bn(self.linear(x.reshape(-1, shape[-1])))
        return y.reshape(*shape[:-1], y.shape[-1])


class LinearBNLIF(nn.Sequential):
    """Linear-BN-LIF: the projection unit of every spiking transformer block here."""

    def __init__(self, cfg: ArchConfig, in_features: int, out_features: int) -> None:
        super().__init__(LinearBN(in_features, out_features), make_lif(cfg))
