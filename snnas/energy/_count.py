"""Operation counting at the torch dispatch level, attributed to the layer that executed each op.

Built on spikingjelly 2.0's ``op_counter`` (``DispatchCounterMode`` with ``SynOpCounter`` and
``MACCounter``), with three additions where it falls short for spiking transformers:

* **Spike-count inputs**: a matmul/conv whose input is integer-valued but not binary (a residual sum of
  spikes, {0, 1, 2}) is a MAC layer, but an event-driven one: each non-zero input costs one MAC per synapse
  it reaches and zeros cost nothing (spikingjelly charges the full dense product).
* **Element-wise multiplies** (``mul``/``div``) are not MACs in spikingjelly; SSSA's ``P = Q' * kappa`` is a
  real multiply of two spike counts, so a multiply of two non-binary tensors counts one MAC per output.
  A multiply by a spike tensor is a gate (a select), and a multiply by a constant folds into weights or
  thresholds: neither is counted.
* **Event-driven additions** (``ac``): residual sums and spike-count reductions cost one add per arriving
  non-zero spike count (dense operands: one per element). spikingjelly's ``ACCounter`` charges every element
  and BN internals, so a silent network would still pay for its adds.
* **Neuron updates** are counted per neuron per timestep by forward hooks on spikingjelly neurons and on
  the saccadic neuron (whose threshold compare or top-k selection it includes); their internal arithmetic
  is not counted again.
* **SSSA's salience** (``Salience``) is charged by structure: one add per Q (and K) spike for the channel
  counts, one multiply per token with a non-zero Q' (V1: per pair of non-zero Q'_i, K'_j), one add per
  non-zero head salience when heads share the fixation.

Not counted, as a deployment folds them: BatchNorm (into the preceding weights) and ``MembraneSum``
(GL-SPS's two branches drive one membrane: their synaptic events, already counted, accumulate into the
same potential). ``TemporalMixing``'s own ops are replaced by a structural charge: each non-zero salience
P[s] costs one MAC for every H[t], t >= s, of the lower-triangular M_w (its values, e.g. an identity M_w at
init, must not turn a multiply into a "spike"). Spikingjelly records each op in every enclosing module; a
layer's own count is its record minus those of its nearest recorded descendants.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.neuron import BaseNode
from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter
from spikingjelly.activation_based.op_counter.base import BaseCounter, is_binary_tensor
from torch import nn

from snnas import _faults
from snnas.models.sssa import SaccadicNeuron, Salience, TemporalMixing
from snnas.models.tokenizer import MembraneSum

__all__ = ["LayerCounts", "count_ops"]

aten = torch.ops.aten
# Counted by hooks instead (neurons: updates; TemporalMixing and Salience: by structure) or folded away.
_IGNORED = [BaseNode, SaccadicNeuron, nn.BatchNorm1d, nn.BatchNorm2d, TemporalMixing, Salience, MembraneSum]
_LOCK = threading.Lock()  # spikingjelly's module tracker hooks are process-wide: one count at a time
_NEURONS = (BaseNode, SaccadicNeuron)


def _uncounted() -> torch._C._ExcludeDispatchKeyGuard:
    """Bookkeeping inside hooks runs below the Python dispatch key, unseen by the counters."""
    return torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python))


def _is_count(x: torch.Tensor) -> bool:
    """Integer-valued (spikes, spike counts): an add per non-zero element is event-driven."""
    if not x.is_floating_point():
        return True
    return bool(torch.equal(x, torch.round(x)))


def _events(x: torch.Tensor) -> int:
    return int(x.count_nonzero()) if _is_count(x) else x.numel()


def _ac_add(args, kwargs, out) -> int:  # noqa: ANN001
    a, b = args[0], args[1]
    if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.numel() == 1 or b.numel() == 1:
        return 0  # adding a constant folds into a bias or threshold
    if _is_count(a) and _is_count(b):
        return _events(a) + _events(b)
    return out.numel()


def _ac_reduce(args, kwargs, out) -> int:  # noqa: ANN001
    x = args[0]
    return _events(x) if _is_count(x) else x.numel() - out.numel()


def _mac_elementwise(args, kwargs, out) -> int:  # noqa: ANN001
    a, b = args[0], args[1]
    if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.numel() == 1 or b.numel() == 1:
        return 0
    if is_binary_tensor(a) or is_binary_tensor(b):
        return 0
    return out.numel()


_ACTIVATION_ARG = {aten.mm.default: 0, aten.addmm.default: 1, aten.bmm.default: 0, aten.baddbmm.default: 1,
                   aten.convolution.default: 0}


def _event_driven_macs(dense_rule, synop_rule, act: int):  # noqa: ANN001, ANN202
    """MACs of a matmul/conv with no binary operand; an integer-valued (spike-count) input is event-driven:
    its zeros cost nothing, each non-zero costs one MAC per synapse it reaches."""

    def rule(args, kwargs, out) -> int:  # noqa: ANN001
        dense = dense_rule(args, kwargs, out)
        x = args[act]
        if dense == 0 or not _is_count(x):
            return dense
        with _uncounted():
            events = list(args)
            events[act] = x.ne(0).to(x.dtype)
            return int(synop_rule(tuple(events), kwargs, out))

    return rule


def _mac_counter() -> MACCounter:
    mac = MACCounter(extra_rules={aten.mul.Tensor: _mac_elementwise, aten.div.Tensor: _mac_elementwise},
                     extra_ignore_modules=_IGNORED)
    synop_rules = SynOpCounter().rules
    for op, act in _ACTIVATION_ARG.items():
        mac.rules[op] = _event_driven_macs(mac.rules[op], synop_rules[op], act)
    return mac


class AccumulateCounter(BaseCounter):
    """Additions outside synapses and neurons: residual sums, pooling and spike-count reductions."""

    def __init__(self, extra_ignore_modules: list[type[nn.Module]] | None = None) -> None:
        super().__init__()
        self.rules = {aten.add.Tensor: _ac_add, aten.sum.dim_IntList: _ac_reduce, aten.sum.default: _ac_reduce,
                      aten.mean.dim: _ac_reduce, aten.mean.default: _ac_reduce}
        self.ignore_modules = list(extra_ignore_modules or [])


@dataclass
class LayerCounts:
    """Operations one layer executed over the whole batch (all T timesteps)."""

    layer: str
    kind: str
    sop: int = 0
    mac: int = 0
    ac: int = 0
    neuron_updates: int = 0
    rate_in: float | None = None  # share of non-zero inputs (synaptic layers)
    firing_rate_t: list[float] = field(default_factory=list)  # neurons: share of spikes per timestep


def _exclusive(records: dict[str, dict], root: str) -> dict[str, int]:
    """Each recorded scope's own count: its record minus those of its nearest recorded descendants."""
    totals = {scope: sum(v.values()) for scope, v in records.items() if scope != "Global"}
    own = dict(totals)
    for scope, total in totals.items():
        parent = scope
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in totals:
                own[parent] -= total
                break
    return {(s[len(root) + 1:] if s != root else ""): n for s, n in own.items() if n}


def count_ops(model: nn.Module, x: torch.Tensor, **forward_kwargs: object) -> tuple[list[LayerCounts], list[str]]:
    """Run ``model(x)`` once (no grad, state reset before and after) and count every op per layer.

    Returns the rows and the encoding layers (the synaptic layers that ran before any neuron, i.e. on the
    model input). Counting holds a process-wide lock: spikingjelly's module tracker sees every forward.
    """
    sop_c = SynOpCounter(extra_ignore_modules=_IGNORED)
    mac_c = _mac_counter()
    ac_c = AccumulateCounter(extra_ignore_modules=_IGNORED)
    names = {m: n for n, m in model.named_modules()}
    rows: dict[str, LayerCounts] = {}
    fired: list[bool] = []
    encoding: list[str] = []

    def row(name: str) -> LayerCounts:
        if name not in rows:
            rows[name] = LayerCounts(name or "(model)", type(model.get_submodule(name)).__name__)
        return rows[name]

    def on_neuron(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        fired.append(True)
        r = row(names[m])
        r.neuron_updates += inputs[0].numel()
        with _uncounted():
            r.firing_rate_t = [float(v) for v in out.detach().float().flatten(1).mean(1)]

    def on_mixing(m: TemporalMixing, inputs: tuple, out: torch.Tensor) -> None:
        p = inputs[0]
        if p is not None:  # H = M_w P: a non-zero P[s] feeds H[t] for every t >= s (lower-triangular M_w)
            with _uncounted():
                nnz_t = p.ne(0).flatten(1).sum(1)
                row(names[m]).mac += int((nnz_t * torch.arange(p.shape[0], 0, -1, device=p.device)).sum())

    def on_salience(m: Salience, inputs: tuple, out: torch.Tensor) -> None:
        q, k = inputs
        r = row(names[m])
        with _uncounted():
            q_count = q.ne(0).sum(-1)  # tokens' Q' > 0 is what triggers a multiply
            r.ac += int(q.count_nonzero())  # Q' = sum of Q spikes: one add per spike
            if m.kappa_mode == "learned":
                r.mac += int(q_count.count_nonzero())  # Q' * alpha for every token that has a Q spike
            else:
                r.ac += int(k.count_nonzero())  # K' or kappa: one add per K spike
                if m.version == "v1":  # the explicit outer product: every pair of non-zero Q'_i, K'_j
                    k_nz = k.ne(0).any(-1).sum(-1)  # [T, B, h]
                    r.mac += int((q_count.ne(0).sum(-1) * k_nz).sum())
                else:
                    r.mac += int(q_count.count_nonzero())  # Q' * kappa
            if m.shared:
                r.ac += int(q_count.count_nonzero())  # per-head saliences summed over heads

    def on_synapse(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        with _uncounted():
            row(names[m]).rate_in = float(inputs[0].detach().ne(0).float().mean())
        if not fired:  # before any neuron ran, a layer can only be reading the model input: the encoding layer
            encoding.append(names[m])

    hooks = [m.register_forward_hook(on_neuron) for m in model.modules() if isinstance(m, _NEURONS)]
    hooks += [m.register_forward_hook(on_mixing) for m in model.modules() if isinstance(m, TemporalMixing)]
    hooks += [m.register_forward_hook(on_salience) for m in model.modules() if isinstance(m, Salience)]
    hooks += [m.register_forward_hook(on_synapse) for m in model.modules()
              if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)]
    root = type(model).__name__
    # Parameters that require grad make spikingjelly's tracker attach backward hooks, which fail on tensors
    # derived from parameters without a grad_fn under no_grad (an expanded scalar threshold, say).
    grads = {p: p.requires_grad for p in model.parameters()}
    with _LOCK:
        try:
            for p in grads:
                p.requires_grad_(False)
            functional.reset_net(model)
            with torch.no_grad(), DispatchCounterMode([sop_c, mac_c, ac_c]):
                model(x, **forward_kwargs)
                _faults.point("energy")
        finally:
            functional.reset_net(model)
            for p, g in grads.items():
                p.requires_grad_(g)
            for h in hooks:
                h.remove()
    for attr, counter in (("sop", sop_c), ("mac", mac_c), ("ac", ac_c)):
        for name, n in _exclusive(counter.get_counts(), root).items():
            setattr(row(name), attr, getattr(row(name), attr) + n)
    order = {n: i for i, n in enumerate(names.values())}
    return sorted(rows.values(), key=lambda r: order.get("" if r.layer == "(model)" else r.layer, -1)), encoding
