"""Dense ANN-equivalent MACs of an SNN-ViT architecture, counted with thop.

The ANN equivalent runs the same architecture once (T = 1) on real-valued activations, so every
Linear/Conv is a dense MAC layer. thop counts nn.Linear/nn.Conv2d itself; it misses functional matmuls,
so every module that states its own rule (``dense_macs``, as each token mixer does) gets a custom op with
those MACs (plus its children's, because thop does not descend below a module that has a rule). BatchNorm
folds into the weights and costs nothing.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

with warnings.catch_warnings():  # thop 0.1.1 compares versions with distutils' deprecated LooseVersion
    warnings.simplefilter("ignore", DeprecationWarning)
    from thop import profile
    from thop.vision.basic_hooks import zero_ops

from snnas.config import ArchConfig
from snnas.models import create_model

__all__ = ["ann_equivalent_macs", "mixer_dense_macs"]


def _has_rule(module: nn.Module) -> bool:
    return callable(getattr(module, "dense_macs", None))


def mixer_dense_macs(module: nn.Module, tokens: torch.Size) -> int:
    """Dense multiply-accumulates of one token-mixing call on ``[T, B, N, D]`` real-valued tokens.

    The rule is the module's own ``dense_macs`` (see :mod:`snnas.models._mixers`); a module without one is a
    ``TypeError``.
    """
    if not _has_rule(module):
        raise TypeError(f"no dense-MAC rule for {type(module).__name__}")
    return int(module.dense_macs(tokens))


def _mixer_hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    children = sum(int(m.total_ops.item()) for m in module.modules() if m is not module and hasattr(m, "total_ops"))
    module.total_ops += torch.tensor([float(mixer_dense_macs(module, inputs[0].shape) + children)],
                                     dtype=torch.float64)


@functools.lru_cache(maxsize=256)
def ann_equivalent_macs(cfg: ArchConfig) -> int:
    """Dense MACs per image of ``cfg``'s architecture run once (T = 1) as an ANN (cached per config)."""
    with torch.random.fork_rng(devices=[]):  # building a model draws weights: leave the caller's RNG alone
        net = create_model(cfg.replace(T=1)).eval()
    x = torch.zeros(1, cfg.in_channels, cfg.img_size, cfg.img_size)
    custom = {nn.BatchNorm1d: zero_ops, nn.BatchNorm2d: zero_ops}
    custom.update({type(m): _mixer_hook for m in net.modules() if _has_rule(m)})  # thop keys on exact types
    # thop prints only with verbose or report_missing: both off, nothing to silence. No swapping sys.stdout
    # (contextlib.redirect_stdout) here: it is one for the process, this runs on a search's worker thread, and
    # a --quiet trial line the main thread printed during the swap went into it (CI: a failed trial's line lost).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        macs, _ = profile(net, inputs=(x,), custom_ops=custom, verbose=False, report_missing=False)
    return int(macs)
