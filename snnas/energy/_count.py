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
  any module marked ``spiking_neuron = True`` (SSSA's saccadic neuron, whose threshold compare or top-k
  selection it includes); their internal arithmetic is not counted again.
* **Structural charges**: a module that defines ``snn_ops(inputs, output) -> {kind: count}`` is charged
  what it returns and nothing inside it is counted again (SSSA's ``Salience`` and ``TemporalMixing``: their
  values, e.g. an identity M_w at init, must not turn a multiply into a "spike"; GL-SPS's ``MembraneSum``
  returns nothing, as a deployment folds it). The rules live on the modules (see
  :mod:`snnas.models._mixers`), so this counter names no layer of the model family.

Not counted, as a deployment folds it: BatchNorm (into the preceding weights). Spikingjelly records each op
in every enclosing module; a layer's own count is its record minus those of its nearest recorded descendants.
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

__all__ = ["LayerCounts", "count_ops"]

aten = torch.ops.aten
_FOLDED = [nn.BatchNorm1d, nn.BatchNorm2d]  # a deployment folds BN into the preceding weights
_LOCK = threading.Lock()  # spikingjelly's module tracker hooks are process-wide: one count at a time
_STRUCTURAL_KINDS = ("sop", "mac", "ac")  # what an ``snn_ops`` rule may charge


def _is_neuron(m: nn.Module) -> bool:
    return isinstance(m, BaseNode) or getattr(m, "spiking_neuron", False) is True


def _is_structural(m: nn.Module) -> bool:
    return callable(getattr(m, "snn_ops", None))


def _ignored(model: nn.Module) -> list[type[nn.Module]]:
    """Module types the dispatch counters skip: counted by hooks instead (neurons: updates; ``snn_ops``: by
    structure) or folded away. spikingjelly ignores by type, so these are the types found in ``model``."""
    own = dict.fromkeys(type(m) for m in model.modules() if _is_neuron(m) or _is_structural(m))
    return [BaseNode, *_FOLDED, *own]


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


def _mac_counter(ignored: list[type[nn.Module]]) -> MACCounter:
    mac = MACCounter(extra_rules={aten.mul.Tensor: _mac_elementwise, aten.div.Tensor: _mac_elementwise},
                     extra_ignore_modules=ignored)
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
    ignored = _ignored(model)
    sop_c = SynOpCounter(extra_ignore_modules=ignored)
    mac_c = _mac_counter(ignored)
    ac_c = AccumulateCounter(extra_ignore_modules=ignored)
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

    def on_structural(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        with _uncounted():
            ops = m.snn_ops(inputs, out)
        if not ops:  # nothing to charge (a folded op): no row either
            return
        unknown = sorted(set(ops) - set(_STRUCTURAL_KINDS))
        if unknown:
            raise ValueError(f"{type(m).__name__}.snn_ops returned unknown op kind(s) {', '.join(unknown)}; "
                             f"known: {', '.join(_STRUCTURAL_KINDS)}")
        r = row(names[m])
        for kind, n in ops.items():
            setattr(r, kind, getattr(r, kind) + int(n))

    def on_synapse(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        with _uncounted():
            row(names[m]).rate_in = float(inputs[0].detach().ne(0).float().mean())
        if not fired:  # before any neuron ran, a layer can only be reading the model input: the encoding layer
            encoding.append(names[m])

    hooks = [m.register_forward_hook(on_neuron) for m in model.modules() if _is_neuron(m)]
    hooks += [m.register_forward_hook(on_structural) for m in model.modules() if _is_structural(m)]
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
