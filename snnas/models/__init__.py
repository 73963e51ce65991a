"""SNN-ViT models: SSSA, the SSA/SDSA baselines, SPS/GL-SPS tokenizers, the model and token-mixer registries."""

from __future__ import annotations

from snnas.models import zoo as _zoo  # noqa: F401  (registers the built-in models)
from snnas.models._batchnorm import batchnorm_layers, exact_batchnorm_statistics
from snnas.models._mixers import attention_layer, list_attentions, register_attention, unregister_attention
from snnas.models._neurons import LIF, compile_neurons
from snnas.models._registry import (
    ModelEntry,
    count_params,
    create_model,
    get_config,
    get_entry,
    list_models,
    register_model,
)
from snnas.models.attention import SDSA, SSA, SpikingAttention
from snnas.models.snn_vit import MLP, Block, SNNViT
from snnas.models.sssa import SSSA, SaccadicNeuron
from snnas.models.tokenizer import GLSPS, SPS

__all__ = [
    "ModelEntry", "count_params", "create_model", "get_config", "get_entry", "list_models", "register_model",
    "attention_layer", "list_attentions", "register_attention", "unregister_attention",
    "LIF", "batchnorm_layers", "compile_neurons", "exact_batchnorm_statistics",
    "SpikingAttention", "SSA", "SDSA", "SSSA", "SaccadicNeuron", "MLP", "Block", "SNNViT", "SPS", "GLSPS",
]
