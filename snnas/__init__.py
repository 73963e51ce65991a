"""snnas: neural-architecture search over spiking vision transformers with Saccadic Spike Self-Attention.

The model names below are loaded on first use (PEP 562), so ``import snnas`` (and the CLI, which answers
``--help``, ``spaces`` or ``datasets`` without any tensor) does not import torch.
"""

from __future__ import annotations

from snnas._lazy import lazy_exports
from snnas.config import ArchConfig
from snnas.errors import ConfigError, SnnasError, UnknownNameError

__version__ = "0.1.0"
_models, __getattr__, __dir__ = lazy_exports(__name__, {"snnas.models": ["create_model", "list_models",
                                                                         "register_model"]})
__all__ = ["ArchConfig", "ConfigError", "SnnasError", "UnknownNameError", *_models, "__version__"]
