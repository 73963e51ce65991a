"""snnas: neural-architecture search over spiking vision transformers with Saccadic Spike Self-Attention."""

from __future__ import annotations

from snnas.config import ArchConfig
from snnas.errors import ConfigError, SnnasError, UnknownNameError
from snnas.models import create_model, list_models, register_model

__version__ = "0.1.0"
__all__ = ["ArchConfig", "ConfigError", "SnnasError", "UnknownNameError", "create_model", "list_models",
           "register_model", "__version__"]
