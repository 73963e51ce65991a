"""EnergyReport: totals, profiles, zero firing, JSON, the ANN equivalent."""

from __future__ import annotations

import math

import pytest
import torch
from spikingjelly.activation_based.neuron import BaseNode

from snnas import ConfigError, create_model
from snnas.energy import EnergyProfile, EnergyReport, estimate, list_profiles, load_profile
from snnas.models import list_models


@pytest.fixture(scope="module")
def report() -> EnergyReport:
    torch.manual_seed(0)
    return estimate(create_model("test_sssa_v2"), torch.rand(8, 3, 16, 16), data="uniform noise")


def test_rows_sum_to_total_and_kinds(report):
    assert math.isclose(sum(r.energy_pj for r in report.layers) * 1e-6, report.total_uj, rel_tol=1e-12)
    assert math.isclose(sum(report.energy_uj.values()), report.total_uj, rel_tol=1e-9)
    assert report.counts["sop"] > 0 and report.counts["mac"] > 0 and report.counts["neuron_update"] > 0
    assert report.provenance["bn_recalibrated"] is True
    assert report.provenance["encoding_layers_as_mac"] == ["tokenizer.stages.0.local.conv",
                                                           "tokenizer.stages.0.dilated.conv"]
    assert report.provenance["T"] == 2 and report.provenance["batch_size"] == 8


def test_firing_rate_recorded_per_layer_and_timestep(report):
    rates = report.firing_rates()
    assert "blocks.0.attn.saccadic" in rates and "tokenizer.stages.0.lif" in rates
    assert all(len(v) == 2 and all(0 <= r <= 1 for r in v) for v in rates.values())


def test_json_round_trip(report):
    again = EnergyReport.from_json(report.to_json())
    assert again == report


def test_changing_profile_scales_by_exactly_the_constants(report):
    base = load_profile("cmos45")
    doubled = EnergyProfile("x2", "all doubled", {k: 2 * v for k, v in base.energy_pj.items()}, ("test",))
    assert math.isclose(report.with_profile(doubled).total_uj, 2 * report.total_uj, rel_tol=1e-12)
    loihi = report.with_profile("loihi")
    e = loihi.provenance["profile"]["energy_pj"]
    expected = sum(report.counts[k] * e[k] for k in e) * 1e-6
    assert math.isclose(loihi.total_uj, expected, rel_tol=1e-9)
    assert loihi.counts == report.counts


def test_zero_firing_leaves_only_the_encoding_macs():
    net = create_model("test_sssa_v2")
    x = torch.rand(4, 3, 16, 16)
    for m in net.modules():
        if isinstance(m, BaseNode):
            m.v_threshold = 1e9
    r = estimate(net, x)
    assert r.counts["sop"] == 0 and r.counts["ac"] == 0
    rows = {row.layer: row for row in r.layers}
    encoding = rows["tokenizer.stages.0.local.conv"].mac + rows["tokenizer.stages.0.dilated.conv"].mac
    assert r.counts["mac"] == encoding == 2 * (16 * 16 * 3 * 9 * 4) * 2  # two branches, T=2
    assert math.isclose(r.total_uj, encoding * 4.6e-6, rel_tol=1e-12)
    assert all(max(v) == 0 for v in r.firing_rates().values())


def test_ann_equivalent_counts_attention_matmuls():
    ssa = estimate(create_model("test_ssa"), torch.rand(2, 3, 16, 16))
    sdsa = estimate(create_model("test_sdsa"), torch.rand(2, 3, 16, 16))
    n, d = 16, 32
    assert ssa.ann_macs - sdsa.ann_macs == 2 * n * n * d - 2 * n * d  # same layers but the token mixer
    assert ssa.ann_energy_uj == pytest.approx(ssa.ann_macs * 4.6e-6)


def test_estimate_does_not_touch_a_trained_model():
    net = create_model("test_sssa_v2")
    x = torch.rand(4, 3, 16, 16)
    net(x)  # one training forward: BN has statistics, SSSA is calibrated
    net.blocks[0].mlp.eval()  # a frozen sub-module must stay frozen
    state = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    r = estimate(net, x)
    assert torch.equal(torch.rand(1), expected_next)  # the caller's random stream is untouched
    assert r.provenance["bn_recalibrated"] is False
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert net.training and not net.blocks[0].mlp.training and net.blocks[0].attn.training


def test_profiles_are_data_with_sources():
    assert {"cmos45", "cmos45_memory", "loihi"} <= set(list_profiles())
    for name in list_profiles():
        p = load_profile(name)
        assert p.sources and set(p.energy_pj) == {"sop", "ac", "mac", "neuron_update"}
    assert load_profile("cmos45").energy_pj == {"sop": 0.9, "ac": 0.9, "mac": 4.6, "neuron_update": 0.0}


@pytest.mark.parametrize(("text", "match"), [
    ("name='x'\ndescription='d'\nsources=['s']\n[energy_pj]\nsop=1\nac=1\nmac=1\n", r"energy_pj\.neuron_update"),
    ("name='x'\ndescription='d'\nsources=['s']\n[energy_pj]\nsop=-1\nac=1\nmac=1\nneuron_update=0\n",
     r"energy_pj\.sop"),
    ("name='x'\ndescription='d'\nsources=[]\n[energy_pj]\nsop=1\nac=1\nmac=1\nneuron_update=0\n", "sources"),
    ("name='x'\nsources=['s']\n[energy_pj]\nsop=1\nac=1\nmac=1\nneuron_update=0\n", "description"),
    ("name='x'\ndescription='d'\nsources=['s']\n[energy_pj]\nsop=1\nac=1\nmac=1\nneuron_update=0\nflop=2\n",
     "unknown operation"),
    ("name = [unclosed", "not valid TOML"),
])
def test_bad_profile_files_name_the_key(tmp_path, text, match):
    f = tmp_path / "mine.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_profile(f)
    assert str(f) in str(e.value)


def test_unknown_profile_name():
    with pytest.raises(Exception, match="did you mean cmos45"):
        load_profile("cmos46")


@pytest.mark.parametrize("name", list_models("test_*"))
def test_every_tiny_model_estimates(name):
    net = create_model(name)
    c = net.cfg
    x = (torch.rand(c.T, 4, 2, c.img_size, c.img_size) < 0.3).float() * 2 if c.in_channels == 2 else \
        torch.rand(4, c.in_channels, c.img_size, c.img_size)
    r = estimate(net, x)
    assert r.total_uj > 0 and math.isclose(sum(x.energy_pj for x in r.layers) * 1e-6, r.total_uj, rel_tol=1e-12)
    assert r.provenance["encoding_layers"][0].startswith("tokenizer.stages.0.")
    assert r.provenance["encoding_layers_as_mac"] == r.provenance["encoding_layers"]  # real or count-valued input
    if c.attention == "sssa" and c.saccades != "threshold":
        assert {row.layer: row for row in r.layers}["blocks.0.attn.saccadic"].ac == 0  # top-k costs no adds


def test_event_counts_input_is_event_driven():
    net = create_model("test_dvs")
    x = torch.zeros(3, 2, 2, 16, 16)
    x[:, :, :, :4, :4] = 2.0  # two events per pixel in one corner, nothing elsewhere
    r = estimate(net, x)
    rows = {row.layer: row for row in r.layers}
    local = rows["tokenizer.stages.0.local.conv"]
    dense = 3 * 2 * 16 * 16 * 2 * 9 * 4 / 2  # T * B * H * W * C_in * 9 * C_out per image
    assert 0 < local.mac < dense / 4  # only the taps the events reach
