"""Exact BatchNorm statistics: the one way snnas recalibrates BN before it scores or counts a network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["batchnorm_layers", "exact_batchnorm_statistics"]


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model``."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def exact_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """Inside: ``model`` in training mode with BN statistics reset to cumulative averages; after: as before.

    The forward passes run inside the block set every BN layer's running mean and variance to the exact
    average over their batches (momentum ``None``), instead of a moving average still close to its initial
    identity. On exit each layer gets its momentum back and every module its own training flag (a frozen
    sub-module stays frozen). Why snnas needs it: a short proxy training, or none, leaves BN's running
    statistics near the identity, and an eval-mode SNN with those barely spikes.

    Example:
        >>> import torch
        >>> bn = nn.BatchNorm1d(2).eval()
        >>> with exact_batchnorm_statistics(bn), torch.no_grad():
        ...     _ = bn(torch.tensor([[0.0, 2.0], [2.0, 4.0]]))
        >>> bn.running_mean.tolist(), bn.training, bn.momentum
        ([1.0, 3.0], False, 0.1)
    """
    bns = batchnorm_layers(model)
    saved = [m.momentum for m in bns]
    modes = {m: m.training for m in model.modules()}
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes inside the block
    try:
        model.train()
        yield
    finally:
        for m, momentum in zip(bns, saved, strict=True):
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
