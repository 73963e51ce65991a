"""Saccadic Spike Self-Attention (SSSA, spec §1) and its saccadic neuron.

Reading of the spec's open points chosen here (each is a constructor/config switch where the spec allows
more than one):

* Q' and K' are per-head channel spike counts (spec §6.1); fixation is per head by default (§6.2).
* Salience ``P = rowsum(Q' K'^T)``. V1 forms the N x N matrix; V2 uses the rank-1 identity
  ``P = Q' * kappa`` with ``kappa`` the total K spike count (``kappa="data"``) or a learned per-head scale
  (``kappa="learned"``, in which case the K branch is not built at all: it could not affect the output).
* **Normalisation.** Raw counts grow with N, d and firing rates, so a fixed threshold fixates a size-
  dependent share of patches; and ``P = Q' * kappa`` multiplies two counts, so it is ~100x smaller at t=0
  (membranes still charging) than later. We divide P by a per-timestep, per-group calibration constant
  ``s[t, g]``: the mean of P over batch and tokens on the first batch that shows salience there
  (ActNorm-style data-dependent init), then frozen and saved in the state dict. Being constant, it is the
  same in training and inference, and ``M_w diag(1/s) P`` is just ``M_w`` with calibrated columns: the
  spec's equations are unchanged (its "1/d of firing rates absorbed into alpha / V_th", §6.1, measured
  instead of guessed). What adapts during training is what the paper learns: ``M_w``, ``V_th`` (and alpha).
  With ``V_th = 1`` at init a patch is fixated when its salience exceeds the mean at that timestep.
* Saccadic neuron ``H = M_w P``, ``M_w`` lower-triangular, identity init, diagonal ``exp(.)``-positive (so
  it stays invertible for the folded rule); ``S = Theta(H - V_th)`` with the config's surrogate gradient.
* ``saccades=k`` (an extension of the paper): exactly k patches fixated per timestep, top-k on H, with a
  straight-through surrogate gradient around the k-th/(k+1)-th midpoint. Ties at the k-th place go to the
  lower token index (row-major patch order), on every device.
* Only the entries M_w uses are parameters (T diagonal, T(T-1)/2 below it); ``temporal_mixing="identity"``
  fixes M_w to the identity, the ablation of the neuron's temporal interaction (``docs/paper_claims.md``).
* ``inference="folded"`` is the paper's deployment rule ``S[t] = Theta(P[t] - (M_w^-1 V_th)[t])``. It is
  used only in eval mode and is **not** equivalent to the training rule unless M_w is diagonal (§6.6); the
  default ``"train_rule"`` uses the training rule at inference too.
"""

from __future__ import annotations

import torch
from torch import nn

from snnas.config import ArchConfig
from snnas.models._mixers import register_attention
from snnas.models._neurons import make_surrogate
from snnas.models.attention import SpikingAttention

__all__ = ["TemporalMixing", "SaccadicNeuron", "Salience", "SSSA"]


class TemporalMixing(nn.Module):
    """``M_w`` (lower-triangular, identity init, ``exp``-positive diagonal) with the calibration folded in.

    ``forward(p, scale)`` computes ``H = M_w diag(1/scale) P`` per group; ``forward(None, scale, vth)``
    the folded thresholds. It is its own module so the energy counter can charge the mixing by its
    structure (:meth:`snn_ops`) rather than by the values of M_w.

    Only what M_w uses is stored: ``log_diag`` (T) and ``lower``, the T(T-1)/2 entries of the strictly lower
    triangle in row-major order (``torch.tril_indices(T, T, -1)``), so parameter counts and weight decay see
    no dead entries. A state dict of the former layout (a full T x T ``lower``, of which only the strictly
    lower triangle was ever read) loads into it unchanged in meaning. ``learned=False`` fixes M_w to the
    identity (no parameters): the ablation of the saccadic neuron's temporal interaction.

    Example:
        >>> mixing = TemporalMixing(T=3)
        >>> sum(p.numel() for p in mixing.parameters())  # 3 diagonal + 3 strictly-lower entries
        6
        >>> p = torch.tensor([1.0, 0.0, 2.0]).view(3, 1, 1, 1)  # P[0] feeds H[0..2], P[2] feeds H[2]
        >>> mixing.snn_ops((p, torch.ones(3, 1)), mixing(p, torch.ones(3, 1)))
        {'mac': 4}
    """

    def __init__(self, T: int, learned: bool = True) -> None:
        super().__init__()
        self.T, self.learned = T, learned
        rows, cols = torch.tril_indices(T, T, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        if learned:
            self.log_diag = nn.Parameter(torch.zeros(T))  # exp(0) = 1: identity at init
            self.lower = nn.Parameter(torch.zeros(rows.numel()))  # the strictly lower triangle, row by row

    def matrix(self) -> torch.Tensor:
        if not self.learned:
            return torch.eye(self.T, device=self.rows.device)
        return torch.diag(self.log_diag.exp()).index_put((self.rows, self.cols), self.lower)

    def forward(self, p: torch.Tensor | None, scale: torch.Tensor, vth: torch.Tensor | None = None) -> torch.Tensor:
        """``[T, B, G, N]`` mixed salience; with ``p=None`` and ``vth``, the folded thresholds
        ``scale[t, g] * (M_w^-1 V_th)[t]`` as ``[T, G]``."""
        t = p.shape[0] if p is not None else vth.shape[0]  # fewer steps than built for: M_w's causal prefix
        m, scale = self.matrix()[:t, :t], scale[:t]
        if p is None:
            folded = torch.linalg.solve_triangular(m, vth.unsqueeze(-1), upper=False)  # [T, 1]
            return folded * scale
        if not self.learned:
            return p / scale.view(t, 1, -1, 1)
        return torch.einsum("gts,sbgn->tbgn", m.unsqueeze(0) / scale.t().unsqueeze(1), p)

    def snn_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, int]:
        """Ops of one call, by structure: a non-zero ``P[s]`` costs one MAC for every ``H[t]``, ``t >= s``.

        The values of M_w must not decide it (an identity M_w at init would turn every multiply into a
        "spike"). The folded thresholds (``p=None``) involve parameters only: nothing is charged. A fixed
        identity M_w mixes nothing: its ``1/scale`` is a per-timestep constant that folds into the threshold.
        """
        p = inputs[0]
        if p is None or not self.learned:
            return {}
        nnz_t = p.ne(0).flatten(1).sum(1)
        return {"mac": int((nnz_t * torch.arange(p.shape[0], 0, -1, device=p.device)).sum())}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        old = state_dict.get(prefix + "lower")
        if self.learned and old is not None and old.shape == (self.T, self.T):  # the former full T x T layout
            state_dict[prefix + "lower"] = old[self.rows.cpu(), self.cols.cpu()]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class SaccadicNeuron(nn.Module):
    """Causal temporal mixing of patch salience, then a threshold (or top-k) fixation spike.

    Input ``P`` of shape ``[T, B, G, N]`` (G = heads, or 1 when shared); output binary ``S`` of the same shape.

    Example:
        >>> n = SaccadicNeuron(T=4, groups=2)
        >>> s = n(torch.rand(4, 3, 2, 10))
        >>> tuple(s.shape), bool(((s == 0) | (s == 1)).all())
        ((4, 3, 2, 10), True)
    """

    # For the energy counter: one neuron update per input element (its threshold compare or top-k included);
    # the arithmetic inside is not counted again.
    spiking_neuron = True

    def __init__(
        self,
        T: int,
        groups: int,
        *,
        saccades: str | int = "threshold",
        vth_mode: str = "per_timestep",
        vth_init: float = 1.0,
        surrogate: str = "atan",
        inference: str = "train_rule",
        mixing: str = "learned",
    ) -> None:
        super().__init__()
        self.T, self.groups, self.saccades, self.inference = T, groups, saccades, inference
        self.surrogate = make_surrogate(surrogate)
        self.mixing = TemporalMixing(T, learned=mixing == "learned")
        vth = torch.full((T,), float(vth_init))
        if saccades != "threshold":
            vth_mode = "fixed"  # top-k ranks H; a threshold would be an unused parameter
        if vth_mode == "fixed":
            self.register_buffer("vth", vth)
        elif vth_mode == "scalar":
            self.vth_scalar = nn.Parameter(torch.tensor(float(vth_init)))
        else:
            self.vth = nn.Parameter(vth)
        self.vth_mode = vth_mode
        self.register_buffer("scale", torch.ones(T, groups))
        self.register_buffer("scale_initialised", torch.zeros(T, groups, dtype=torch.bool))
        self._calibrated = False  # python mirror of scale_initialised.all(): no device sync per forward
        self._last_s: torch.Tensor | None = None

    @property
    def mw_log_diag(self) -> nn.Parameter | None:
        """log of M_w's diagonal (length T); None when M_w is the fixed identity (``mixing="identity"``)."""
        return self.mixing.log_diag if self.mixing.learned else None

    @property
    def mw_lower(self) -> nn.Parameter | None:
        """M_w's strictly lower triangle, row by row; None when M_w is the fixed identity."""
        return self.mixing.lower if self.mixing.learned else None

    def mixing_matrix(self) -> torch.Tensor:
        """``M_w``: lower-triangular, positive diagonal."""
        return self.mixing.matrix()

    def thresholds(self) -> torch.Tensor:
        """``V_th`` as a length-T vector."""
        if self.vth_mode == "scalar":
            return self.vth_scalar.expand(self.T)
        return self.vth

    def folded_thresholds(self) -> torch.Tensor:
        """The paper's folded per-timestep thresholds ``M_w^-1 V_th`` (spec §1.5), in calibrated units."""
        m = self.mixing_matrix()
        return torch.linalg.solve_triangular(m, self.thresholds().unsqueeze(-1), upper=False).squeeze(-1)

    @property
    def fixation_rate_t(self) -> torch.Tensor | None:
        """Share of fixated patches per timestep in the last forward, ``[T]``."""
        return None if self._last_s is None else self._last_s.mean(dim=(1, 2, 3))

    @property
    def fixation_rate(self) -> torch.Tensor | None:
        """Share of fixated patches in the last forward."""
        return None if self._last_s is None else self._last_s.mean()

    def _calibrate(self, p: torch.Tensor) -> None:
        # Training batches only: inference (and energy counting) never changes the model.
        t = p.shape[0]  # a run with fewer timesteps calibrates the first t
        with torch.no_grad():
            mean = p.mean(dim=(1, 3))  # [t, G]
            new = mean.gt(0) & ~self.scale_initialised[:t]  # a silent head waits; the others calibrate
            self.scale[:t] = torch.where(new, mean, self.scale[:t])
            self.scale_initialised[:t] |= new
            self._calibrated = bool(self.scale_initialised.all())

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super()._load_from_state_dict(*args, **kwargs)
        self._calibrated = bool(self.scale_initialised.all())

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        t = p.shape[0]
        if not 1 <= t <= self.T:  # a shorter run uses the causal prefix of M_w, V_th and the calibration
            raise ValueError(f"SaccadicNeuron built for T={self.T}, got a sequence of length {t}")
        # thresholds on float32 salience: autocast would round H to bf16 and move patches across V_th
        with torch.autocast(p.device.type, enabled=False):
            p = p.float()
            if self.training and not self._calibrated:
                self._calibrate(p)
            if self.inference == "folded" and not self.training:
                # S[t] = Theta(P[t] - s[t] (M_w^-1 V_th)[t]): the current step only, no history
                theta = self.mixing(None, self.scale, self.thresholds()[:t])  # [t, G], raw salience units
                s = self.surrogate(p - theta.view(t, 1, self.groups, 1))
            else:
                h = self.mixing(p, self.scale)  # M_w diag(1/s) P per group
                if self.saccades == "threshold":
                    s = self.surrogate(h - self.thresholds()[:t].view(-1, 1, 1, 1))
                else:
                    s = self._top_k(h, int(self.saccades))
        self._last_s = s.detach()
        return s

    def _top_k(self, h: torch.Tensor, k: int) -> torch.Tensor:
        """Exactly ``k`` fixations per (t, b, group): the k largest H; **ties go to the lower token index**.

        Salience is built from integer spike counts, so the k-th and (k+1)-th values tie often (~90 % of
        groups at d=16, rate 0.15, N=64, k=16). ``torch.topk`` leaves the choice among tied values to its
        kernel (which need not agree between CPU and CUDA); a stable descending sort keeps tied tokens in index
        order on every device, so the fixated set is a function of H alone. At a tie the surrogate's
        threshold is the tied value itself, so every tied patch, fixated or not, gets the surrogate's peak
        gradient (which way the tie goes is decided by the index, not by H).
        """
        n = h.shape[-1]
        with torch.no_grad():
            values, indices = h.sort(dim=-1, descending=True, stable=True)
            mask = torch.zeros_like(h).scatter_(-1, indices[..., :k], 1.0)
            top = values[..., : min(k + 1, n)]
            # midpoint between the k-th and (k+1)-th salience: where the surrogate's gradient is centred
            kth = top[..., k - 1 : k]
            thr = (kth + top[..., k : k + 1]) / 2 if k < n else kth - 1.0
        g = self.surrogate(h - thr)
        return mask + (g - g.detach())  # forward: exactly k ones; backward: the surrogate's gradient

    def extra_repr(self) -> str:
        return (f"T={self.T}, groups={self.groups}, saccades={self.saccades!r}, vth_mode={self.vth_mode!r}, "
                f"inference={self.inference!r}")


class Salience(nn.Module):
    """Per-token salience ``P = rowsum(Q' K'^T)`` (V1: the N x N product; V2: ``Q' * kappa``; or ``Q' * alpha``).

    A module of its own so that the energy counter can charge it by its structure (:meth:`snn_ops`)
    instead of by the values it happens to see.

    Example:
        >>> sal = Salience("v2", "data", shared=False, heads=1)
        >>> q = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).view(1, 1, 1, 2, 2)  # token 0: Q' = 2; token 1: silent
        >>> k = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 1, 1, 2, 2)  # kappa = 2
        >>> sal(q, k).flatten().tolist(), sal.snn_ops((q, k), None)
        ([4.0, 0.0], {'ac': 4, 'mac': 1})
    """

    def __init__(self, version: str, kappa: str, shared: bool, heads: int) -> None:
        super().__init__()
        self.version, self.kappa_mode, self.shared = version, kappa, shared
        if kappa == "learned":
            self.alpha = nn.Parameter(torch.ones(heads))

    def forward(self, q: torch.Tensor, k: torch.Tensor | None) -> torch.Tensor:
        # Counts in float32 whatever the spike dtype: kappa reaches N*d and P N*d^2, beyond bf16's exact
        # integers and fp16's range.
        q_count = q.sum(-1, dtype=torch.float32)  # Q': [T, B, h, N]
        if self.kappa_mode == "learned":
            p = q_count * self.alpha.float().view(1, 1, -1, 1)
        elif self.version == "v1":
            k_count = k.sum(-1, dtype=torch.float32)
            p = (q_count.unsqueeze(-1) * k_count.unsqueeze(-2)).sum(-1)  # row-sum of the N x N CroAtt
        else:
            p = q_count * k.sum(dim=(-2, -1), dtype=torch.float32).unsqueeze(-1)  # rank-1 identity: Q' * kappa
        return p.sum(2, keepdim=True) if self.shared else p

    def snn_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, int]:
        """Ops of one call, by structure: one add per Q (and K) spike for the counts, one multiply per token
        with a non-zero Q' (V1: per pair of non-zero Q'_i, K'_j), one add per non-zero head salience summed
        when heads share the fixation."""
        q, k = inputs
        ac = mac = 0
        q_count = q.ne(0).sum(-1)  # tokens' Q' > 0 is what triggers a multiply
        ac += int(q.count_nonzero())  # Q' = sum of Q spikes: one add per spike
        if self.kappa_mode == "learned":
            mac += int(q_count.count_nonzero())  # Q' * alpha for every token that has a Q spike
        else:
            ac += int(k.count_nonzero())  # K' or kappa: one add per K spike
            if self.version == "v1":  # the explicit outer product: every pair of non-zero Q'_i, K'_j
                k_nz = k.ne(0).any(-1).sum(-1)  # [T, B, h]
                mac += int((q_count.ne(0).sum(-1) * k_nz).sum())
            else:
                mac += int(q_count.count_nonzero())  # Q' * kappa
        if self.shared:
            ac += int(q_count.count_nonzero())  # per-head saliences summed over heads
        return {"ac": ac, "mac": mac}


class SSSA(SpikingAttention):
    """Saccadic Spike Self-Attention: ``out = LIF(BN(Linear(S * V)))`` with S from :class:`SaccadicNeuron`.

    Example:
        >>> cfg = ArchConfig(T=2, depth=1, embed_dim=32, num_heads=2, img_size=16, patch_size=4)
        >>> attn = SSSA(cfg)
        >>> attn(torch.randint(0, 2, (2, 3, 16, 32)).float()).shape
        torch.Size([2, 3, 16, 32])
    """

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__(cfg, with_key=cfg.kappa == "data")
        self.version, self.kappa_mode, self.shared = cfg.sssa_version, cfg.kappa, cfg.fixation == "shared"
        self.croatt = Salience(cfg.sssa_version, cfg.kappa, self.shared, cfg.num_heads)
        self.saccadic = SaccadicNeuron(
            cfg.T, 1 if self.shared else cfg.num_heads, saccades=cfg.saccades, vth_mode=cfg.vth_mode,
            vth_init=cfg.vth_init, surrogate=cfg.surrogate, inference=cfg.sssa_inference, mixing=cfg.temporal_mixing,
        )

    @property
    def alpha(self) -> nn.Parameter:
        """The learned kappa of ``kappa="learned"``, one per head."""
        return self.croatt.alpha

    def salience(self, q: torch.Tensor, k: torch.Tensor | None) -> torch.Tensor:
        """``P`` of shape ``[T, B, G, N]`` (float32) from head-split spikes ``[T, B, h, N, d]``."""
        return self.croatt(q, k)

    def mix(self, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
        s = self.saccadic(self.salience(q, k))  # [T, B, G, N]
        return v * s.unsqueeze(-1).to(v.dtype)

    def dense_macs(self, tokens: torch.Size) -> int:
        """Dense MACs of one mixing call on real-valued ``[T, B, N, D]`` tokens."""
        t, b, n, d = tokens
        rows = t * b
        heads = self.num_heads
        groups = 1 if self.shared else heads
        macs = rows * n * d + rows * heads * n  # gate V, Q' * kappa
        if self.saccadic.mixing.learned:
            macs += rows * groups * n * t  # M_w mixing
        if self.version == "v1":
            macs += rows * heads * n * n  # the explicit N x N outer product
        return macs

    @property
    def fixation_rate(self) -> torch.Tensor | None:
        return self.saccadic.fixation_rate


register_attention("sssa", SSSA)
