"""Spiking neurons and surrogates, built from spikingjelly from an :class:`ArchConfig`."""

from __future__ import annotations

import functools
import logging
import os
import warnings

import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode

from snnas.config import ArchConfig

# spikingjelly registers its kernels as triton ops; CPU torch has no triton and logs a harmless warning.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

_SURROGATES: dict[str, type[surrogate.SurrogateFunctionBase]] = {
    "atan": surrogate.ATan,
    "sigmoid": surrogate.Sigmoid,
    "rect": surrogate.Rect,
    "erf": surrogate.Erf,
    "piecewise_quadratic": surrogate.PiecewiseQuadratic,
}


def make_surrogate(name: str) -> surrogate.SurrogateFunctionBase:
    """A spiking surrogate (Heaviside forward, smooth gradient backward) by its config name."""
    return _SURROGATES[name]()


_COMPILE = {"on": os.environ.get("SNNAS_COMPILE_NEURONS", "0") == "1"}


def compile_neurons(on: bool | None = None) -> bool:
    """Switch the fused CPU neuron kernels on or off for this process (``None``: just ask); returns the state.

    spikingjelly 2.0 runs its LIF op on CPU as a Python loop over T of several element-wise ops (forward)
    and a second loop (backward). Switched on, every LIF in every snnas model calls one
    ``torch.compile(dynamic=True)`` wrapper of spikingjelly's own multi-step LIF (its reference
    ``multi_step`` with its surrogate function), which inductor fuses into one C++ kernel per direction. It
    is compiled once per process for each (T, tensor rank, grad mode) and shared by every layer and
    architecture: tau and the threshold are tensor inputs and shapes are dynamic, so nothing recompiles.
    It needs a C++ compiler; the first compilation takes tens of seconds (less with inductor's on-disk
    cache), so it pays off over a search, not a single short run. CUDA keeps spikingjelly's own kernels,
    and an energy count (a dispatch mode is active) runs the eager op so that every op is seen.
    """
    if on is not None:
        _COMPILE["on"] = bool(on)
    return _COMPILE["on"]


@functools.cache
def _compiled_lif(surrogate_type: type[surrogate.SurrogateFunctionBase], alpha: float):  # noqa: ANN202
    import torch._dynamo
    from spikingjelly._ops.lif import reference
    from spikingjelly._ops.surrogate import _surrogate_spec

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    surrogate_id, sg_alpha = _surrogate_spec(surrogate_type(alpha=alpha))

    def lif_seq(x: torch.Tensor, v: torch.Tensor, tau: torch.Tensor, v_threshold: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # The body of spikingjelly's CPU LIF op (charge, surrogate spike, hard reset to 0 with the reset
        # detached), traced by dynamo. tau and the threshold are 0-d tensors, i.e. graph inputs: floats would
        # be burnt into the kernel, and every new neuron_tau of a search would compile again.
        s, v_last, _ = reference._forward_impl(x, v, tau, True, v_threshold, 0.0, True, sg_alpha, False, surrogate_id)
        return s, v_last

    # floats stay constants (alpha is one): a symbolic float saved on the surrogate's autograd ctx breaks tracing
    return torch._dynamo.config.patch(specialize_float=True)(torch.compile(lif_seq, dynamic=True))


class LIF(neuron.LIFNode):
    """spikingjelly's ``LIFNode`` (multi-step, hard reset to 0, detached reset) with an optional fused CPU path.

    Numerically the same neuron either way: the fused path runs spikingjelly's ``lif_multi_step`` op
    through ``torch.compile`` (see :func:`compile_neurons`).
    """

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        if (not _COMPILE["on"] or x_seq.device.type != "cpu" or _get_current_dispatch_mode() is not None
                or self.store_v_seq):
            return super().multi_step_forward(x_seq, *args, **kwargs)
        (v,) = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")
        fn = _compiled_lif(type(self.surrogate_function), float(self.surrogate_function.alpha))
        try:
            spikes, self._memories["v"] = fn(x_seq, v, torch.tensor(self.tau, dtype=x_seq.dtype),
                                             torch.tensor(self.v_threshold, dtype=x_seq.dtype))
        except Exception as e:  # noqa: BLE001 - a genuine error raises again from the eager op below
            # compiling failed (no working toolchain, a tracing gap): say so once, carry on with the eager op
            _COMPILE["on"] = False
            warnings.warn(f"fused neuron kernels unavailable ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                          "running spikingjelly's eager LIF", RuntimeWarning, stacklevel=2)
            return super().multi_step_forward(x_seq, *args, **kwargs)
        return spikes


def make_lif(cfg: ArchConfig, v_threshold: float | None = None) -> nn.Module:
    """A multi-step spikingjelly LIF node (hard reset to 0, detached reset), as in the Spikformer lineage."""
    return LIF(
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
