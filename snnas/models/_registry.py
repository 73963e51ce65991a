"""Model registry: ``register_model`` / ``create_model`` / ``list_models`` (timm-style front door)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

import torch

from snnas._lookup import lookup
from snnas.config import ArchConfig

__all__ = ["ModelEntry", "register_model", "get_config", "get_entry", "create_model", "list_models",
           "count_params"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered architecture: its config and, for the paper's models, what the paper reports."""

    name: str
    config: ArchConfig
    description: str = ""
    paper_params: float | None = None  # parameters the paper reports, for side-by-side comparison
    paper_top1: float | None = None


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, description: str = "", paper_params: float | None = None, paper_top1: float | None = None
) -> Callable[[Callable[[], ArchConfig]], Callable[[], ArchConfig]]:
    """Decorator registering a zero-argument function that returns the model's :class:`ArchConfig`."""

    def deco(fn: Callable[[], ArchConfig]) -> Callable[[], ArchConfig]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelEntry(name, fn(), description or (fn.__doc__ or "").strip(), paper_params, paper_top1)
        return fn

    return deco


def get_entry(name: str) -> ModelEntry:
    return lookup(_MODELS, name, "model")


def get_config(name: str, **overrides: object) -> ArchConfig:
    """The registered config of ``name``, with fields replaced by ``overrides`` (validated)."""
    cfg = get_entry(name).config
    return cfg.replace(**overrides) if overrides else cfg


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(cfg_or_name: ArchConfig | str, **overrides: object) -> torch.nn.Module:
    """Build an SNN-ViT from a registered name or an :class:`ArchConfig`, with optional field overrides.

    Example:
        >>> net = create_model("test_sssa_v2", num_classes=5)
        >>> net.cfg.num_classes
        5
    """
    from snnas.models.snn_vit import SNNViT

    if isinstance(cfg_or_name, str):
        cfg = get_config(cfg_or_name, **overrides)
    else:
        cfg = cfg_or_name.replace(**overrides) if overrides else cfg_or_name
    return SNNViT(cfg)


def count_params(cfg: ArchConfig) -> int:
    """Trainable parameters of the model ``cfg`` describes, built on the meta device (no memory used)."""
    with torch.device("meta"):
        net = create_model(cfg)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
