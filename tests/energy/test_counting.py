"""Golden nets: operation counts computed by hand must match the counter exactly."""

from __future__ import annotations

import torch
from thop import profile
from torch import nn

from snnas.energy import count_ops
from snnas.models import SSSA, get_config


def by_layer(model: nn.Module, x: torch.Tensor) -> dict:
    rows, _ = count_ops(model, x)
    return {r.layer: r for r in rows}


def test_linear_on_known_binary_input():
    net = nn.Sequential(nn.Linear(4, 3, bias=False))
    x = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])
    r = by_layer(net, x)["0"]
    assert (r.sop, r.mac, r.ac) == ((2 + 1) * 3, 0, 0)
    assert r.rate_in == 3 / 8


def test_linear_on_real_input_is_mac():
    net = nn.Sequential(nn.Linear(4, 3, bias=False))
    r = by_layer(net, torch.full((2, 4), 0.5))["0"]
    assert (r.sop, r.mac) == (0, 2 * 4 * 3)


def test_conv_on_known_binary_input():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False))  # 4x4 -> 2x2 outputs, no padding
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1  # reaches 1 output position
    x[0, 0, 1, 1] = 1  # reaches all 4 output positions
    r = by_layer(net, x)["0"]
    assert (r.sop, r.mac) == (2 * (1 + 4), 0)


class SpikeMatmul(nn.Module):
    def forward(self, q: torch.Tensor) -> torch.Tensor:
        k = torch.tensor([[1.0, 0, 1], [1, 1, 1]])
        return q @ k.t()


def test_spike_times_spike_matmul_counts_coincidences():
    q = torch.tensor([[1.0, 1, 0], [0, 1, 1]])  # q @ k^T = [[1, 2], [1, 2]]
    r = by_layer(SpikeMatmul(), q)["(model)"]
    assert (r.sop, r.mac) == (6, 0)


class ForcedSSSA(nn.Module):
    """SSSA's token mixer on fixed Q/K/V spikes (the projections are bypassed)."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        cfg = get_config("test_sssa_v2", T=2, embed_dim=16, num_heads=2, img_size=8, patch_size=4)
        self.attn = SSSA(cfg)
        sacc = self.attn.saccadic
        sacc.scale_initialised.fill_(True)
        sacc._calibrated = True
        self.k, self.v = k, v

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.attn.mix(q, self.k, self.v)


def test_sssa_mixer_with_forced_spikes():
    g = torch.Generator().manual_seed(3)
    T, B, h, N, d = 2, 1, 2, 4, 8
    q, k, v = ((torch.rand(T, B, h, N, d, generator=g) < 0.4).float() for _ in range(3))
    q[0, 0, 0, 0, :3] = 1  # make sure some Q' counts exceed 1 (so P = Q' * kappa is a real multiply)
    net = ForcedSSSA(k, v).eval()
    rows = by_layer(net, q)
    salience, neuron, mixing = rows["attn.croatt"], rows["attn.saccadic"], rows["attn.saccadic.mixing"]
    nnz_q, nnz_k = int(q.count_nonzero()), int(k.count_nonzero())
    assert salience.ac == nnz_q + nnz_k  # channel counts Q' and the total kappa: one add per spike
    assert salience.mac == int(q.sum(-1).count_nonzero())  # P = Q' * kappa for every token with a Q spike
    assert "(model)" not in rows  # S * V is a gate, not a synapse: nothing else in the mixer costs energy
    salience = net.attn.salience(q, k)  # [T, B, h, N]
    # lower-triangular M_w: a non-zero P[s] feeds every H[t], t >= s
    assert mixing.mac == sum(int(salience[s].count_nonzero()) * (T - s) for s in range(T))
    assert mixing.mac > 0
    assert (mixing.sop, mixing.ac) == (0, 0)
    assert neuron.neuron_updates == T * B * h * N
    assert (neuron.sop, neuron.mac, neuron.ac) == (0, 0, 0)


def test_sssa_variants_salience_counts():
    g = torch.Generator().manual_seed(5)
    T, B, h, N, d = 2, 1, 2, 4, 8
    q, k, v = ((torch.rand(T, B, h, N, d, generator=g) < 0.3).float() for _ in range(3))
    q_tokens = q.sum(-1).ne(0)  # [T, B, h, N]
    k_tokens = k.sum(-1).ne(0)
    for overrides, expected_mac in [
        ({"sssa_version": "v1"}, int((q_tokens.sum(-1) * k_tokens.sum(-1)).sum())),  # pairs of non-zero Q', K'
        ({"kappa": "learned"}, int(q_tokens.sum())),
        ({"fixation": "shared"}, int(q_tokens.sum())),
    ]:
        net = ForcedSSSA(k, v).eval()
        cfg = net.attn.croatt
        for key, value in overrides.items():
            setattr(cfg, {"sssa_version": "version", "kappa": "kappa_mode", "fixation": "shared"}[key],
                    value if key != "fixation" else True)
        if overrides.get("kappa") == "learned":
            cfg.alpha = torch.nn.Parameter(torch.full((h,), 1.3))  # a trained value: the count must not care
        if overrides.get("fixation") == "shared":
            net.attn.saccadic = type(net.attn.saccadic)(T, 1)
            net.attn.saccadic.scale_initialised.fill_(True)
            net.attn.saccadic._calibrated = True
        row = by_layer(net, q)["attn.croatt"]
        assert row.mac == expected_mac, overrides
        extra = int(q_tokens.sum()) if overrides.get("fixation") else 0  # summing head saliences
        assert row.ac == int(q.count_nonzero()) + (0 if "kappa" in overrides else int(k.count_nonzero())) + extra


def test_thop_and_dispatch_counter_agree_on_dense_layers():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, bias=False),
                        nn.Flatten(), nn.Linear(4 * 3 * 3, 10, bias=False))
    x = torch.randn(2, 3, 8, 8)
    rows = by_layer(net, x)
    thop_total, _, layers = profile(net, inputs=(x,), verbose=False, ret_layer_info=True)
    for name in ("0", "2", "4"):
        assert rows[name].mac == layers[name][0], name
    assert sum(r.mac for r in rows.values()) == thop_total


def test_spike_count_input_is_event_driven_mac():
    net = nn.Sequential(nn.Linear(4, 3, bias=False))
    x = torch.tensor([[2.0, 0, 1, 0], [0, 0, 0, 0]])  # a residual sum of spikes: non-binary, mostly zero
    r = by_layer(net, x)["0"]
    assert (r.sop, r.mac) == (0, 2 * 3)  # two non-zero inputs, three synapses each
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False))
    y = torch.zeros(1, 1, 4, 4)
    y[0, 0, 1, 1] = 2.0  # reaches all 4 output positions of both channels
    assert by_layer(conv, y)["0"].mac == 2 * 4
