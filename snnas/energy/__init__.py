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

from snnas._lazy import lazy_exports

# Reading a profile (a space file names one) needs no torch; counting ops does: each name loads on first use.
__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "snnas.energy._ann": ["ann_equivalent_macs", "mixer_dense_macs"],
    "snnas.energy._count": ["LayerCounts", "count_ops"],
    "snnas.energy._profiles": ["OP_KINDS", "EnergyProfile", "list_profiles", "load_profile"],
    "snnas.energy._report": ["EnergyReport", "LayerEnergy", "estimate", "recalibrate_batchnorm"],
})
