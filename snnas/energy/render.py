"""Rich rendering of an :class:`EnergyReport` (kept apart from the report, which never draws itself)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from snnas.energy._report import EnergyReport

__all__ = ["energy_table"]


def _n(v: float) -> str:
    if v == 0:
        return "0"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v:.1f}" if v != int(v) else str(int(v))


def energy_table(report: EnergyReport, title: str = "energy per image") -> Group:
    """A per-layer table (rows sum to the total) and a provenance footer."""
    t = Table(title=title, show_footer=True)
    total_pj = report.total_uj * 1e6
    cols = [("layer", "total"), ("kind", ""), ("rate in", ""), ("SOPs", _n(report.counts["sop"])),
            ("MACs", _n(report.counts["mac"])), ("ACs", _n(report.counts["ac"])),
            ("neuron upd.", _n(report.counts["neuron_update"])), ("energy nJ", f"{total_pj / 1e3:.3f}"),
            ("share", "100%")]
    for name, footer in cols:
        t.add_column(name, footer=footer, justify="left" if name in ("layer", "kind") else "right", no_wrap=True)
    for r in report.layers:
        if not (r.sop or r.mac or r.ac or r.neuron_updates):
            continue
        rate = f"{r.rate_in:.3f}" if r.rate_in is not None else ""
        share = f"{100 * r.energy_pj / total_pj:.1f}%" if total_pj else "-"
        t.add_row(r.layer, r.kind, rate, _n(r.sop), _n(r.mac), _n(r.ac), _n(r.neuron_updates),
                  f"{r.energy_pj / 1e3:.3f}", share)
    p = report.provenance
    prof = p["profile"]
    e = prof["energy_pj"]
    lines = [
        f"total {report.total_uj:.4f} uJ/image  (SOP {report.energy_uj['sop']:.4f}, MAC {report.energy_uj['mac']:.4f}, "
        f"AC {report.energy_uj['ac']:.4f}, neuron {report.energy_uj['neuron_update']:.4f})",
        f"profile {prof['name']}: {e['sop']} pJ/SOP, {e['mac']} pJ/MAC, {e['ac']} pJ/AC, "
        f"{e['neuron_update']} pJ/neuron update; {prof['sources'][0]}",
        f"T={p['T']} included; batch {p['batch_size']} from {p['data']}; encoding layers as MAC: "
        f"{', '.join(p['encoding_layers_as_mac']) or 'none'}; BN recalibrated: {p['bn_recalibrated']}",
    ]
    if report.ann_energy_uj is not None:
        lines.append(f"dense ANN equivalent (T=1, thop): {_n(report.ann_macs)} MACs = {report.ann_energy_uj:.4f} uJ; "
                     f"SNN/ANN = {report.snn_to_ann:.3f}")
    return Group(t, *(Text(line, style="dim") for line in lines))
