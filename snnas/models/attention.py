"""Spiking token mixers on ``[T, B, N, D]`` spikes: the shared Q/K/V scaffold and the baselines.

spikingjelly ships ``layer.SpikingSelfAttention`` and ``layer.SpikeDrivenSelfAttention``, but they take
``[T, B, C, L]`` / ``[T, B, C, H, W]`` layouts, build their neurons from fixed defaults, and SDSA carries its
own membrane shortcut; so the baselines are re-expressed here on the same scaffold (same LIF, surrogate and
projection as SSSA), which is what a fair architecture comparison needs. The equations are theirs.
"""

from __future__ import annotations

import torch
from torch import nn

from snnas.config import ArchConfig
from snnas.models._mixers import register_attention
from snnas.models._neurons import LinearBNLIF, make_lif

__all__ = ["SpikingAttention", "SSA", "SDSA"]


class SpikingAttention(nn.Module):
    """Q, K, V = LIF(BN(Linear(x))) split into heads; ``mix`` does the token mixing; Linear-BN-LIF projection.

    Subclasses implement :meth:`mix` on head-split spikes ``[T, B, h, N, d]`` and return the same shape, and
    ``dense_macs`` for the ANN equivalent (see :mod:`snnas.models._mixers` for what a new mixer provides).

    Example:
        >>> cfg = ArchConfig(T=2, depth=1, embed_dim=32, num_heads=2, img_size=16, patch_size=4, attention="ssa")
        >>> attn = SSA(cfg)
        >>> attn(torch.randint(0, 2, (2, 3, 16, 32)).float()).shape, attn.dense_macs(torch.Size([1, 1, 16, 32]))
        (torch.Size([2, 3, 16, 32]), 16384)
    """

    def __init__(self, cfg: ArchConfig, *, with_key: bool = True) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.num_heads = cfg.num_heads
        self.q = LinearBNLIF(cfg, d, d)
        self.k = LinearBNLIF(cfg, d, d) if with_key else None
        self.v = LinearBNLIF(cfg, d, d)
        self.proj = LinearBNLIF(cfg, d, d)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        t, b, n, d = x.shape
        return x.reshape(t, b, n, self.num_heads, d // self.num_heads).transpose(2, 3)

    def mix(self, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.q(x))
        k = self._heads(self.k(x)) if self.k is not None else None
        v = self._heads(self.v(x))
        y = self.mix(q, k, v)  # [T, B, h, N, d]
        t, b, h, n, dh = y.shape
        return self.proj(y.transpose(2, 3).reshape(t, b, n, h * dh))


class SSA(SpikingAttention):
    """Spikformer's Spiking Self-Attention: ``LIF_0.5((Q K^T) V * 0.125)``, in Spikformer's order (O(N^2 d))."""

    scale = 0.125

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__(cfg)
        self.attn_lif = make_lif(cfg, v_threshold=0.5)

    def mix(self, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
        return self.attn_lif((q @ k.transpose(-2, -1)) @ v * self.scale)

    def dense_macs(self, tokens: torch.Size) -> int:
        """Dense MACs of one mixing call on real-valued ``[T, B, N, D]`` tokens."""
        t, b, n, d = tokens
        return 2 * t * b * n * n * d  # Q K^T, then (Q K^T) V


class SDSA(SpikingAttention):
    """Spike-driven Transformer's SDSA: ``Q * LIF_0.5(sum_tokens(K * V))`` (linear in N)."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__(cfg)
        self.attn_lif = make_lif(cfg, v_threshold=0.5)

    def mix(self, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
        return q * self.attn_lif((k * v).sum(dim=-2, keepdim=True))

    def dense_macs(self, tokens: torch.Size) -> int:
        """Dense MACs of one mixing call on real-valued ``[T, B, N, D]`` tokens."""
        t, b, n, d = tokens
        return 2 * t * b * n * d  # K * V, then Q * (sum K V)


register_attention("ssa", SSA)
register_attention("sdsa", SDSA)
