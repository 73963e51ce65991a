"""Behaviour of Saccadic Spike Self-Attention (spec §1) and its saccadic neuron."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnas import ArchConfig, create_model
from snnas.models import SSSA, SaccadicNeuron, get_config


def natural_images(batch: int, size: int, channels: int = 3) -> torch.Tensor:
    """Smooth, image-like inputs: low-frequency structure plus a little texture, in [0, 1]."""
    coarse = F.interpolate(torch.rand(batch, channels, 4, 4), size=(size, size), mode="bilinear",
                           align_corners=False)
    return (0.85 * coarse + 0.15 * torch.rand(batch, channels, size, size)).clamp(0, 1)


def spike_tokens(T: int, batch: int, n: int, d: int, rate: float = 0.15) -> torch.Tensor:
    return (torch.rand(T, batch, n, d) < rate).float()


def _rates_per_timestep(img_size: int, patch: int, embed_dim: int, heads: int) -> torch.Tensor:
    """Fixation share per (layer, timestep) on a second batch, after the first one calibrated the layers."""
    cfg = ArchConfig(T=4, depth=2, embed_dim=embed_dim, num_heads=heads, img_size=img_size, patch_size=patch,
                     mlp_ratio=1.0)
    net = create_model(cfg)  # train mode: at init, eval-mode BN leaves the whole net nearly silent
    with torch.no_grad():
        net(natural_images(8, img_size))
        net(natural_images(8, img_size))
    return torch.stack([b.attn.saccadic.fixation_rate_t for b in net.blocks])  # [layers, T]


SIZES = [(16, 4), (32, 4), (64, 4), (32, 2)]  # N = 16, 64, 256, 256
WIDTHS = [(32, 4), (64, 4), (128, 2), (256, 4)]  # d = 8, 16, 64, 64


@pytest.mark.parametrize("img_size,patch", SIZES)
@pytest.mark.parametrize("embed_dim,heads", WIDTHS)
def test_fixation_rate_at_init_is_moderate_at_every_timestep(img_size, patch, embed_dim, heads):
    rates = _rates_per_timestep(img_size, patch, embed_dim, heads)
    assert ((rates.mean(1) > 0.05) & (rates.mean(1) < 0.95)).all(), rates
    # t = 0: LIF membranes start at rest, Q barely fires, and a patch with no Q spike has no salience for
    # any threshold to pass; from t = 1 on, every timestep must sit in the band.
    later = rates[:, 1:]
    assert ((later > 0.05) & (later < 0.95)).all(), rates
    assert (rates[:, 0] > 0).all(), rates


def test_fixation_rate_at_init_does_not_depend_on_size():
    means = torch.stack([_rates_per_timestep(i, p, e, h).mean() for i, p in SIZES[:3] for e, h in WIDTHS[::2]])
    assert means.max() - means.min() < 0.25, means


@pytest.mark.parametrize("fixation", ["per_head", "shared"])
def test_v1_equals_v2_with_data_kappa(fixation):
    v1 = create_model("test_sssa_v1", fixation=fixation, depth=2)
    v2 = create_model("test_sssa_v2", fixation=fixation, depth=2)
    v2.load_state_dict(v1.state_dict())
    x = natural_images(6, 16)
    out1, out2 = v1(x), v2(x)
    assert torch.equal(out1, out2)
    assert v1.fixation_rates() == v2.fixation_rates()
    # and the mixers really are different code paths: V1 forms an N x N tensor
    layer = SSSA(get_config("test_sssa_v1"))
    q = spike_tokens(2, 3, 16, 32).reshape(2, 3, 16, 2, 16).transpose(2, 3)
    k = spike_tokens(2, 3, 16, 32).reshape(2, 3, 16, 2, 16).transpose(2, 3)
    p1 = layer.salience(q, k)
    layer.croatt.version = "v2"
    assert torch.equal(p1, layer.salience(q, k))


@pytest.mark.parametrize("k", [1, 3, 16])
@pytest.mark.parametrize("fixation", ["per_head", "shared"])
def test_top_k_fixates_exactly_k_per_timestep(k, fixation):
    cfg = get_config("test_sssa_v2", saccades=k, fixation=fixation)
    layer = SSSA(cfg)
    out = []
    layer.saccadic.register_forward_hook(lambda m, i, o: out.append(o))
    x = spike_tokens(cfg.T, 5, cfg.num_tokens, cfg.embed_dim)
    layer(x)
    s = out[0]  # [T, B, G, N]
    assert s.shape[2] == (1 if fixation == "shared" else cfg.num_heads)
    assert torch.equal(s.sum(-1), torch.full(s.shape[:-1], float(k)))
    # ties (many tokens with zero Q spikes) must not break the count either
    layer(torch.zeros_like(x))
    assert torch.equal(out[1].sum(-1), torch.full(s.shape[:-1], float(k)))


@pytest.mark.parametrize("saccades", ["threshold", 4])
def test_gradients_reach_mw_vth_q_and_k(saccades):
    cfg = get_config("test_sssa_v2", T=4, saccades=saccades)
    layer = SSSA(cfg)
    x = spike_tokens(cfg.T, 8, cfg.num_tokens, cfg.embed_dim, rate=0.3)
    y = layer(x)
    (y * torch.randn_like(y)).sum().backward()
    sacc = layer.saccadic
    assert sacc.mw_log_diag.grad.abs().sum() > 0
    assert sacc.mw_lower.grad.abs().sum() > 0
    assert layer.q[0].linear.weight.grad.abs().sum() > 0
    assert layer.k[0].linear.weight.grad.abs().sum() > 0
    if saccades == "threshold":
        assert sacc.vth.grad.abs().sum() > 0


def test_v1_equals_v2_under_bf16_autocast():
    cfg = ArchConfig(T=2, depth=1, embed_dim=128, num_heads=2, img_size=64, patch_size=4, sssa_version="v1")
    v1, v2 = SSSA(cfg), SSSA(cfg.replace(sssa_version="v2"))
    v2.load_state_dict(v1.state_dict())
    x = spike_tokens(2, 2, 256, 128, rate=0.4)  # kappa up to N*d = 16384: not exact in bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y1, y2 = v1(x), v2(x)
    assert torch.equal(y1, y2)
    assert v1.fixation_rate == v2.fixation_rate


def test_top_k_has_no_threshold_parameter():
    layer = SSSA(get_config("test_sssa_topk"))
    assert not [n for n, _ in layer.named_parameters() if "vth" in n]


def test_calibration_is_per_head_and_waits_for_silent_heads():
    cfg = get_config("test_sssa_v2", num_heads=2)
    layer = SSSA(cfg)
    with torch.no_grad():
        layer.q[0].linear.weight[:16].zero_()  # head 0 of Q never fires
    layer(spike_tokens(cfg.T, 4, cfg.num_tokens, cfg.embed_dim, rate=0.4))
    sacc = layer.saccadic
    assert not sacc.scale_initialised[:, 0].any() and sacc.scale_initialised[:, 1].all()
    assert (sacc.scale[:, 1] > 1).all()  # head 1 calibrated to its mean salience, not left at 1


def test_learned_kappa_builds_no_key_branch_and_learns_alpha():
    cfg = get_config("test_sssa_learned")
    layer = SSSA(cfg)
    assert layer.k is None
    y = layer(spike_tokens(cfg.T, 4, cfg.num_tokens, cfg.embed_dim, rate=0.3))
    y.sum().backward()
    assert layer.alpha.grad is not None
    assert layer.saccadic.vth_scalar.grad is not None
    # alpha is not normalised away: once calibrated, scaling one head's alpha changes its fixation for good
    x = spike_tokens(cfg.T, 8, cfg.num_tokens, cfg.embed_dim, rate=0.3)
    layer(x)
    before = layer.saccadic.fixation_rate.item()
    with torch.no_grad():
        layer.alpha.mul_(3.0)
    for _ in range(3):
        layer(x)
    assert layer.saccadic.fixation_rate.item() > before


def test_vth_modes():
    fixed = SaccadicNeuron(4, 2, vth_mode="fixed")
    assert not any(n.startswith("vth") for n, _ in fixed.named_parameters())
    assert SaccadicNeuron(4, 2, vth_mode="scalar").thresholds().shape == (4,)
    assert SaccadicNeuron(4, 2, vth_mode="per_timestep").vth.shape == (4,)


def _neuron_with_unit_scale(mw: torch.Tensor, inference: str) -> SaccadicNeuron:
    n = SaccadicNeuron(2, 1, vth_mode="fixed", vth_init=1.0, inference=inference)
    with torch.no_grad():
        n.mw_log_diag.copy_(mw.diagonal().log())
        n.mw_lower.copy_(mw[tuple(torch.tril_indices(2, 2, -1))])
        n.scale.fill_(1.0)
        n.scale_initialised.fill_(True)
    n._calibrated = True
    return n.eval()


def test_folded_rule_equals_training_rule_only_for_diagonal_mw():
    p = torch.rand(2, 64, 1, 32) * 3  # [T, B, G, N]
    diag = torch.diag(torch.tensor([1.5, 0.7]))
    assert torch.equal(_neuron_with_unit_scale(diag, "train_rule")(p), _neuron_with_unit_scale(diag, "folded")(p))

    mixed = torch.tensor([[1.0, 0.0], [-0.5, 1.0]])  # H1 = P1 - 0.5 P0; folded thresholds M^-1 [1, 1] = [1, 1.5]
    train, folded = _neuron_with_unit_scale(mixed, "train_rule"), _neuron_with_unit_scale(mixed, "folded")
    assert torch.allclose(folded.folded_thresholds(), torch.tensor([1.0, 1.5]))
    # a patch silent at t=0 with salience 1.2 at t=1: the training rule fixates it, the folded rule does not
    p = torch.tensor([0.0, 1.2]).view(2, 1, 1, 1)
    assert train(p)[1].item() == 1.0 and folded(p)[1].item() == 0.0
    # the two agree when the history term happens to equal the folded correction (P0 = V_th)
    p = torch.tensor([1.0, 1.2]).view(2, 1, 1, 1)
    assert train(p)[1].item() == folded(p)[1].item() == 0.0
    # the folded rule applies only in eval; training always uses the training rule
    folded.train()
    p = torch.tensor([0.0, 1.2]).view(2, 1, 1, 1)
    assert folded(p)[1].item() == 1.0


def test_fixation_rates_exposed_per_layer_and_timestep():
    net = create_model("test_sssa_v2", depth=3)
    net(natural_images(4, 16))
    rates = net.fixation_rates()
    assert sorted(rates) == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    per_t = net.blocks[0].attn.saccadic.fixation_rate_t
    assert per_t.shape == (net.cfg.T,)
    assert torch.isclose(per_t.mean(), torch.tensor(rates["blocks.0.attn"]))


def test_salience_scale_survives_state_dict_round_trip():
    a = create_model("test_sssa_v2")
    x = natural_images(4, 16)
    a(x)  # a training step's forward initialises the salience scale and BN statistics
    a.eval()
    out = a(x)
    b = create_model("test_sssa_v2").eval()
    b.load_state_dict(a.state_dict())
    assert bool(b.blocks[0].attn.saccadic.scale_initialised.all())
    assert torch.equal(b(x), out)


def test_fewer_timesteps_are_the_causal_prefix_of_a_full_run():
    net = create_model("test_sssa_v2", T=4, depth=2)
    x = natural_images(4, 16)
    net(x)  # calibrate in training mode
    net.eval()
    with torch.no_grad():
        full = net.forward_features(x)
        for t in (1, 2, 3):
            assert torch.equal(net.forward_features(x, T=t), full[:t])
        net(x, T=2)
    assert net.blocks[0].attn.saccadic.fixation_rate_t.shape == (2,)
    with pytest.raises(Exception, match="cannot run 5 timesteps"):
        net(x, T=5)


def test_in_training_mode_fewer_timesteps_are_not_a_prefix():
    # BatchNorm normalises with the batch's statistics, pooled over every timestep run: the documented limit of
    # per-rung T (docs/search_spaces.md, "Fidelity"), not an exact prefix as was once claimed
    torch.manual_seed(0)
    net = create_model("test_sssa_v2", T=4, depth=2)
    x = natural_images(8, 16)
    net(x)  # calibrate
    with torch.no_grad():
        full = net.forward_features(x)
        short = net.forward_features(x, T=2)
    assert not torch.equal(short, full[:2])
