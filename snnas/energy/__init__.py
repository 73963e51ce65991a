"""Synaptic-operation energy from measured firing rates, priced by data-file profiles, with provenance.

Example:
    >>> import torch
    >>> from snnas import create_model
    >>> from snnas.energy import estimate
    >>> report = estimate(create_model("test_sssa_v2"), torch.rand(8, 3, 16, 16), profile="cmos45")
    >>> report.total_uj > 0, sorted(report.counts)
    (True, ['ac', 'mac', 'neuron_update', 'sop'])
"""

from __future__ import annotations

from snnas.energy._ann import ann_equivalent_macs, mixer_dense_macs
from snnas.energy._count import LayerCounts, count_ops
from snnas.energy._profiles import OP_KINDS, EnergyProfile, list_profiles, load_profile
from snnas.energy._report import EnergyReport, LayerEnergy, estimate, recalibrate_batchnorm

__all__ = ["OP_KINDS", "EnergyProfile", "EnergyReport", "LayerCounts", "LayerEnergy", "ann_equivalent_macs",
           "count_ops", "estimate", "list_profiles", "load_profile",
           "mixer_dense_macs", "recalibrate_batchnorm"]
