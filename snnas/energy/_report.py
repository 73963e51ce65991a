"""``estimate``: energy per image from counted operations, with the full provenance, as an ``EnergyReport``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from snnas._versions import package_versions
from snnas.energy._ann import ann_equivalent_macs
from snnas.energy._count import count_ops
from snnas.energy._profiles import OP_KINDS, EnergyProfile, load_profile
from snnas.errors import SnnasError
from snnas.models import batchnorm_layers, exact_batchnorm_statistics

__all__ = ["LayerEnergy", "EnergyReport", "estimate", "recalibrate_batchnorm"]

_COUNT_FIELDS = {"sop": "sop", "ac": "ac", "mac": "mac", "neuron_update": "neuron_updates"}


@dataclass
class LayerEnergy:
    """One layer's operations and energy, per image (averaged over the calibration batch)."""

    layer: str
    kind: str
    sop: float
    mac: float
    ac: float
    neuron_updates: float
    energy_pj: float
    rate_in: float | None = None
    firing_rate_t: list[float] = field(default_factory=list)


@dataclass
class EnergyReport:
    """Energy per image of one model on one calibration batch, and exactly what was counted.

    ``total_uj`` is the sum of the rows' ``energy_pj`` (x 1e-6). ``ann_*`` describe the dense ANN equivalent
    (same architecture, T = 1, every Linear/Conv/matmul a MAC), priced with the same profile's MAC energy.

    Example:
        >>> from snnas import create_model
        >>> r = estimate(create_model("test_sdsa"), torch.rand(4, 3, 16, 16))
        >>> abs(sum(row.energy_pj for row in r.layers) * 1e-6 - r.total_uj) < 1e-12
        True
    """

    total_uj: float
    counts: dict[str, float]  # per image: sop, ac, mac, neuron_update
    energy_uj: dict[str, float]  # per image, by operation kind
    layers: list[LayerEnergy]
    ann_macs: int | None
    ann_energy_uj: float | None
    provenance: dict[str, Any]

    @property
    def snn_to_ann(self) -> float | None:
        return self.total_uj / self.ann_energy_uj if self.ann_energy_uj else None

    def firing_rates(self) -> dict[str, list[float]]:
        """Per neuron layer, the share of neurons that spiked at each timestep."""
        return {r.layer: r.firing_rate_t for r in self.layers if r.firing_rate_t}

    def with_profile(self, profile: str | EnergyProfile) -> EnergyReport:
        """The same counts priced with another profile."""
        prof = profile if isinstance(profile, EnergyProfile) else load_profile(profile)
        layers = [LayerEnergy(**{**asdict(r), "energy_pj": _price(asdict(r), prof)}) for r in self.layers]
        return _assemble(layers, prof, self.ann_macs, {**self.provenance, "profile": prof.to_dict()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyReport:
        return cls(**{**data, "layers": [LayerEnergy(**r) for r in data["layers"]]})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> EnergyReport:
        return cls.from_dict(json.loads(text))


def _price(row: dict[str, Any], profile: EnergyProfile) -> float:
    return sum(row[_COUNT_FIELDS[k]] * profile.energy_pj[k] for k in OP_KINDS)


def _assemble(layers: list[LayerEnergy], profile: EnergyProfile, ann_macs: int | None,
              provenance: dict[str, Any]) -> EnergyReport:
    counts = {k: sum(getattr(r, _COUNT_FIELDS[k]) for r in layers) for k in OP_KINDS}
    energy = {k: counts[k] * profile.energy_pj[k] * 1e-6 for k in OP_KINDS}
    total = sum(r.energy_pj for r in layers) * 1e-6
    ann_uj = ann_macs * profile.energy_pj["mac"] * 1e-6 if ann_macs is not None else None
    return EnergyReport(total, counts, energy, layers, ann_macs, ann_uj, provenance)


def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, **forward_kwargs: object) -> bool:
    """Give an untrained model the BatchNorm statistics of ``x`` (one train-mode pass, exact averages).

    Freshly built, BN's running statistics are the identity and an eval-mode SNN barely spikes, so its
    energy would say nothing. The same training-mode pass also calibrates SSSA's salience scale (it
    calibrates on training batches): an untrained model is changed on purpose, a trained one never.
    Returns whether it recalibrated (only models whose BN has never seen data).
    """
    bns = batchnorm_layers(model)
    if not bns or any(int(m.num_batches_tracked) > 0 for m in bns):
        return False
    with exact_batchnorm_statistics(model), torch.no_grad():  # one pass: exactly this batch's statistics
        model(x, **forward_kwargs)
    return True


def estimate(model: nn.Module, batch: torch.Tensor, profile: str | EnergyProfile = "cmos45", *,
             data: str = "unspecified", recalibrate: bool = True, T: int | None = None) -> EnergyReport:
    """Energy per image of ``model`` on a calibration ``batch`` (``[B, C, H, W]`` or ``[T, B, C, H, W]``).

    The model runs once in eval mode with its state reset before and after; operations are counted at the
    torch dispatch level (:mod:`snnas.energy._count`) and priced with ``profile``. An untrained model first
    gets the batch's BatchNorm statistics (``recalibrate``; recorded in the provenance). ``T`` runs an
    SNN-ViT for fewer timesteps than it was built for (a search fidelity).
    """
    prof = profile if isinstance(profile, EnergyProfile) else load_profile(profile)
    if not torch.is_tensor(batch) or batch.ndim not in (4, 5) or batch.shape[batch.ndim - 4] == 0:
        raise SnnasError(f"energy calibration batch must be a non-empty [B, C, H, W] or [T, B, C, H, W] tensor, "
                         f"got {getattr(batch, 'shape', type(batch).__name__)}")
    n_images = batch.shape[0] if batch.ndim == 4 else batch.shape[1]
    modes = {m: m.training for m in model.modules()}  # restored one by one: frozen sub-modules stay frozen
    kwargs = {"T": T} if T is not None else {}
    recalibrated = recalibrate and recalibrate_batchnorm(model, batch, **kwargs)
    model.eval()
    try:
        rows, encoding_layers = count_ops(model, batch, **kwargs)
    finally:
        for m, mode in modes.items():
            m.training = mode
    layers = []
    for r in rows:
        per_image = {k: getattr(r, k) / n_images for k in ("sop", "mac", "ac", "neuron_updates")}
        layers.append(LayerEnergy(r.layer, r.kind, **per_image, energy_pj=_price(per_image, prof),
                                  rate_in=r.rate_in, firing_rate_t=r.firing_rate_t))
    cfg = getattr(model, "cfg", None)
    by_name = {r.layer: r for r in layers}
    encoding = [name for name in encoding_layers if by_name.get(name) and by_name[name].mac]
    provenance = {
        "profile": prof.to_dict(),
        "counted": {
            "sop": "spike-driven weight accumulates in matmul/conv (one binary operand: non-zero inputs x "
                   "fan-out; two binary operands: coincident 1x1 products)",
            "mac": "matmul/conv with no binary operand (the encoding layer on real-valued input, inputs that "
                   "are residual sums of spikes), and element-wise multiplies of two non-binary tensors",
            "ac": "additions outside synapses and neurons: residual sums and spike-count reductions, one per "
                  "non-zero spike count (dense operands: one per element)",
            "neuron_update": "one per neuron per timestep (LIF and saccadic neurons)",
            "not_counted": "BatchNorm (folds into weights), M_w and salience calibration (parameter-only), "
                           "multiplies by spikes (gates) or constants, max-pooling comparisons",
        },
        "encoding_layers": encoding_layers,
        "encoding_layers_as_mac": encoding,
        "T": T or (cfg.T if cfg is not None else (batch.shape[0] if batch.ndim == 5 else None)),
        "T_included": True,
        "batch_size": n_images,
        "data": data,
        "bn_recalibrated": recalibrated,
        "config": cfg.to_dict() if cfg is not None else None,
        "arch_id": cfg.id if cfg is not None else None,
        "counter": "spikingjelly.activation_based.op_counter.DispatchCounterMode (SynOpCounter, MACCounter) "
                   "+ snnas rules",
        "versions": dict(package_versions("thop")),
    }
    ann = ann_equivalent_macs(cfg) if cfg is not None else None
    return _assemble(layers, prof, ann, provenance)
