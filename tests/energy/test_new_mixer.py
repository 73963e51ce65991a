"""A new token mixer is one class plus its registration: config, model, forward, energy and ANN equivalent follow."""

from __future__ import annotations

import math

import pytest
import torch
from spikingjelly.activation_based import neuron
from torch import nn

import snnas.energy._ann
import snnas.energy._count
from snnas import ArchConfig, create_model
from snnas.energy import ann_equivalent_macs, estimate, mixer_dense_macs
from snnas.models import SpikingAttention, get_config, register_attention, unregister_attention


class SpikeCount(nn.Module):
    """Per-token spike counts, priced by structure: one add per spike."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(-1, keepdim=True)

    def snn_ops(self, inputs: tuple, output: torch.Tensor) -> dict[str, int]:
        return {"ac": int(inputs[0].count_nonzero())}


class GateMixer(SpikingAttention):
    """Toy mixer: a token passes its V spikes when its Q spike count makes a LIF fire (no K branch)."""

    extra_macs = 0  # raised by a test, to see the ANN equivalent follow the rule

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__(cfg, with_key=False)
        self.count = SpikeCount()
        self.gate = neuron.LIFNode(step_mode="m", detach_reset=True)

    def mix(self, q: torch.Tensor, k: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
        return v * self.gate(self.count(q))

    def dense_macs(self, tokens: torch.Size) -> int:
        t, b, n, d = tokens
        return t * b * n * d + self.extra_macs  # gate V


@pytest.fixture
def toy() -> ArchConfig:
    register_attention("toy", GateMixer)  # the one place the new kind is named
    yield get_config("test_sdsa", attention="toy")  # T=2, depth 1, D=32, 2 heads, 16 tokens
    unregister_attention("toy")


def test_config_model_and_forward(toy):
    assert toy.attention == "toy" and ArchConfig.from_json(toy.to_json()).id == toy.id
    net = create_model(toy)
    assert isinstance(net.blocks[0].attn, GateMixer)
    out = net(torch.rand(4, 3, 16, 16))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_energy_charges_the_modules_own_rules(toy):
    net = create_model(toy)
    seen: list[int] = []
    net.blocks[0].attn.count.register_forward_hook(lambda m, i, o: seen.append(int(i[0].count_nonzero())))
    r = estimate(net, torch.rand(4, 3, 16, 16))
    assert math.isfinite(r.total_uj) and r.total_uj > 0 and all(row.energy_pj >= 0 for row in r.layers)
    rows = {row.layer: row for row in r.layers}
    # exactly what snn_ops returned on the counted (last) forward: the sum inside is not counted again
    assert seen[-1] > 0 and rows["blocks.0.attn.count"].ac == seen[-1] / 4
    assert rows["blocks.0.attn.gate"].neuron_updates == 2 * 2 * 16  # T x heads x tokens per image


def test_ann_equivalent_uses_dense_macs(toy, monkeypatch):
    n, d = 16, 32
    assert mixer_dense_macs(create_model(toy).blocks[0].attn, torch.Size([1, 1, n, d])) == n * d
    sdsa = get_config("test_sdsa")
    # same layers as SDSA but no K projection (n d^2 at T=1) and a cheaper mixer (n d against 2 n d)
    assert ann_equivalent_macs(sdsa) - ann_equivalent_macs(toy) == n * d * d + n * d
    base = ann_equivalent_macs.__wrapped__(toy)  # uncached
    monkeypatch.setattr(GateMixer, "extra_macs", 1000)
    assert ann_equivalent_macs.__wrapped__(toy) - base == toy.depth * 1000


def test_energy_names_no_layer_of_the_model_family():
    family = {"SSA", "SDSA", "SSSA", "SaccadicNeuron", "Salience", "TemporalMixing", "MembraneSum"}
    for module in (snnas.energy._ann, snnas.energy._count):
        assert not family & set(vars(module))
