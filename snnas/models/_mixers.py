"""Token-mixer registry: ``register_attention`` / ``attention_layer`` / ``list_attentions``.

A new attention kind is one module plus one registration; no block, model, energy or config code changes.
What the mixer must provide:

* **The layer**: a :class:`~snnas.models.attention.SpikingAttention` subclass (implement ``mix`` on head-split
  spikes ``[T, B, h, N, d]``), or any ``nn.Module`` built as ``Layer(cfg)`` that maps spike tokens
  ``[T, B, N, D]`` to ``[T, B, N, D]``.
* ``dense_macs(self, tokens: torch.Size) -> int`` on the layer: the dense multiply-accumulates of one call on
  real-valued ``[T, B, N, D]`` tokens, for the ANN equivalent (:func:`snnas.energy.ann_equivalent_macs`).
  Count the functional arithmetic only (matmuls, products): thop counts the Linear/Conv children itself.
* ``snn_ops(self, inputs: tuple, output) -> dict[str, int]`` on any internal module whose spiking ops must be
  priced by structure rather than by the values the torch-dispatch counter sees (a learned identity would
  make a multiply look like a spike): counts by kind (``"sop"``, ``"mac"``, ``"ac"``) for one call, given the
  module's positional inputs. The counter then skips every op inside that module and charges what it returns.
* ``spiking_neuron = True`` (a class attribute) on an internal neuron that is not a spikingjelly ``BaseNode``:
  it is charged one update per input element, and its internal arithmetic is not counted again.

Example:
    >>> from snnas.config import ArchConfig
    >>> from snnas.models import SSA, attention_layer, list_attentions, register_attention, unregister_attention
    >>> class PlainSSA(SSA):
    ...     '''SSA under another name (a real mixer would change ``mix`` and ``dense_macs``).'''
    >>> _ = register_attention("plain_ssa", PlainSSA)
    >>> ArchConfig(attention="plain_ssa").attention, attention_layer("plain_ssa") is PlainSSA
    ('plain_ssa', True)
    >>> unregister_attention("plain_ssa")
    >>> list_attentions()
    ['sdsa', 'ssa', 'sssa']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from torch import nn

from snnas._lookup import lookup
from snnas.config import ATTENTION_KINDS, allow_attention_kind

__all__ = ["ATTENTION_LAYERS", "attention_layer", "list_attentions", "register_attention", "unregister_attention"]

L = TypeVar("L", bound=type[nn.Module])

_LAYERS: dict[str, type[nn.Module]] = {}
ATTENTION_LAYERS: Mapping[str, type[nn.Module]] = MappingProxyType(_LAYERS)  # a read-only, live view


def register_attention(name: str, layer_cls: L) -> L:
    """Register ``layer_cls`` (built as ``layer_cls(cfg)``) as ``ArchConfig.attention == name``; returns it.

    Registering the same class under the same name again does nothing (a module imported twice); another
    class under a taken name is a ``ValueError``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"attention name must be a non-empty string, got {name!r}")
    if _LAYERS.get(name, layer_cls) is not layer_cls:
        raise ValueError(f"attention {name!r} registered twice ({_LAYERS[name].__name__}, {layer_cls.__name__})")
    _LAYERS[name] = layer_cls
    allow_attention_kind(name)
    return layer_cls


def unregister_attention(name: str) -> None:
    """Remove a registered attention kind (tests, notebooks); the built-in kinds cannot be removed."""
    if name in ATTENTION_KINDS:
        raise ValueError(f"attention {name!r} is built in and cannot be unregistered")
    lookup(_LAYERS, name, "attention")
    del _LAYERS[name]
    allow_attention_kind(name, allowed=False)


def attention_layer(name: str) -> type[nn.Module]:
    """The layer type registered as ``name`` (an :class:`~snnas.errors.UnknownNameError` names close ones)."""
    return lookup(_LAYERS, name, "attention")


def list_attentions() -> list[str]:
    """Registered attention kinds, sorted."""
    return sorted(_LAYERS)
