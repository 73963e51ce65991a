"""The SNN-ViT family: tokenizer, ``x + Attn(x)``, ``x + MLP(x)`` blocks, mean-over-tokens-and-T head."""

from __future__ import annotations

import torch
from spikingjelly.activation_based import functional
from torch import nn

from snnas import _faults
from snnas.config import ArchConfig
from snnas.errors import SnnasError
from snnas.models import attention as _attention  # noqa: F401  (registers the SSA and SDSA mixers)
from snnas.models._batchnorm import batchnorm_layers
from snnas.models._mixers import ATTENTION_LAYERS, attention_layer
from snnas.models._neurons import LinearBNLIF
from snnas.models.sssa import SSSA, SaccadicNeuron
from snnas.models.tokenizer import GLSPS, SPS

__all__ = ["MLP", "Block", "SNNViT", "ATTENTION_LAYERS", "TOKENIZER_LAYERS"]

TOKENIZER_LAYERS: dict[str, type[nn.Module]] = {"sps": SPS, "gl_sps": GLSPS}


class MLP(nn.Sequential):
    """Linear-BN-LIF -> Linear-BN-LIF with ``mlp_ratio`` expansion."""

    def __init__(self, cfg: ArchConfig) -> None:
        d, hidden = cfg.embed_dim, cfg.mlp_hidden
        super().__init__(LinearBNLIF(cfg, d, hidden), LinearBNLIF(cfg, hidden, d))


class Block(nn.Module):
    """``x + Attn(x)`` then ``x + MLP(x)``; the attention and MLP are passed as layer types."""

    def __init__(self, cfg: ArchConfig, attn_layer: type[nn.Module], mlp_layer: type[nn.Module] = MLP) -> None:
        super().__init__()
        self.attn = attn_layer(cfg)
        self.mlp = mlp_layer(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SNNViT(nn.Module):
    """Spiking vision transformer of *Spiking Vision Transformer with Saccadic Attention* (ICLR 2025).

    Input ``[B, C, H, W]`` (direct encoding: repeated T times) or ``[T, B, C, H, W]`` (event frames);
    output logits ``[B, num_classes]``. Neuron state is reset at the start of every forward, so two calls
    on the same input give the same output.

    Example:
        >>> from snnas.config import ArchConfig
        >>> net = SNNViT(ArchConfig(T=2, depth=1, embed_dim=32, num_heads=2, img_size=16, patch_size=4))
        >>> net(torch.rand(3, 3, 16, 16)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        cfg: ArchConfig,
        attn_layer: type[nn.Module] | None = None,
        tokenizer_layer: type[nn.Module] | None = None,
        mlp_layer: type[nn.Module] = MLP,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        attn_layer = attn_layer or attention_layer(cfg.attention)
        self.tokenizer = (tokenizer_layer or TOKENIZER_LAYERS[cfg.tokenizer])(cfg)
        self.blocks = nn.Sequential(*[Block(cfg, attn_layer, mlp_layer) for _ in range(cfg.depth)])
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def time_major(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """Check the input and return it as ``[T, B, C, H, W]``.

        ``T`` (at most ``cfg.T``) runs fewer timesteps than the model was built for (a search fidelity).
        In eval mode every layer is causal in time, so the first ``T`` steps are exactly those of a full-T
        run. In training mode they are not: BatchNorm normalises with the statistics of the batch, pooled
        over every timestep run, so a short training forward differs from the first steps of a full one
        (``docs/search_spaces.md``, "Fidelity").
        """
        c = self.cfg
        steps = c.T if T is None else T
        if not 1 <= steps <= c.T:
            raise SnnasError(f"SNNViT built for T={c.T} cannot run {steps} timesteps")
        if x.ndim == 4:
            x = x.unsqueeze(0).expand(steps, *x.shape)
        elif x.ndim != 5:
            raise SnnasError(f"SNNViT input must be [B, C, H, W] or [T, B, C, H, W], got shape {tuple(x.shape)}")
        if x.shape[0] != steps:
            raise SnnasError(f"SNNViT built for T={c.T} got {x.shape[0]} event frames; set T={x.shape[0]}")
        if tuple(x.shape[2:]) != (c.in_channels, c.img_size, c.img_size):
            raise SnnasError(
                f"SNNViT expects {c.in_channels}x{c.img_size}x{c.img_size} inputs, "
                f"got {'x'.join(map(str, x.shape[2:]))}"
            )
        return x

    def forward_features(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """Spike tokens ``[T, B, N, D]`` after the last block."""
        _faults.point("forward", x.device)
        functional.reset_net(self)
        return self.blocks(self.tokenizer(self.time_major(x, T)))

    def forward(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        return self.head(self.forward_features(x, T).mean(dim=(0, 2)))

    def calibrate(self, x: torch.Tensor) -> None:
        """Set every uncalibrated SSSA layer's salience scale from the batch ``x`` at the full T; nothing else
        changes (BatchNorm's running statistics are put back, every module keeps its mode, no gradient).

        A saccadic neuron calibrates on its first training batch (:class:`~snnas.models.sssa.SaccadicNeuron`),
        and only the timesteps that batch runs. A training that starts at fewer timesteps (a search rung with
        ``T``) would calibrate the later ones at its first full-T batch, on a partly trained network. Called
        before training on the batch a full-T training would start with, it gives every timestep the scale
        that full-T run would have.
        """
        if all(m._calibrated for m in self.modules() if isinstance(m, SaccadicNeuron)):
            return
        bns = batchnorm_layers(self)
        saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
        modes = {m: m.training for m in self.modules()}
        try:
            self.train()
            with torch.no_grad():
                self(x)
        finally:
            for m, state in zip(bns, saved, strict=True):
                m.load_state_dict(state)
            for m, mode in modes.items():
                m.training = mode
            functional.reset_net(self)

    def fixation_rates(self) -> dict[str, float]:
        """Share of fixated patches in each SSSA layer during the last forward (empty for other mixers)."""
        return {
            name: float(m.fixation_rate)
            for name, m in self.named_modules()
            if isinstance(m, SSSA) and m.fixation_rate is not None
        }
