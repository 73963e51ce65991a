"""Contract tests run over every registered tiny model."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, neuron

from snnas import ArchConfig, create_model, list_models
from snnas.errors import UnknownNameError
from snnas.models import SSSA, count_params, get_config

TINY = list_models("test_*")


def _input(cfg: ArchConfig, batch: int = 4) -> torch.Tensor:
    if cfg.in_channels == 2:  # event frames [T, B, 2, H, W]
        return (torch.rand(cfg.T, batch, 2, cfg.img_size, cfg.img_size) < 0.3).float()
    return torch.rand(batch, cfg.in_channels, cfg.img_size, cfg.img_size)


def test_tiny_variants_exist():
    assert {"test_sssa_v2", "test_sssa_v1", "test_ssa", "test_sdsa", "test_sssa_topk"} <= set(TINY)


@pytest.mark.parametrize("name", TINY)
def test_forward_backward(name):
    net = create_model(name)
    cfg = net.cfg
    x = _input(cfg)
    out = net(x)
    assert out.shape == (4, cfg.num_classes)
    assert torch.isfinite(out).all()
    out.logsumexp(-1).mean().backward()
    no_grad = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad  # every parameter takes part in the forward
    assert net.head.weight.grad.abs().sum() > 0
    # the first tokenizer conv sits behind every neuron: a non-zero gradient there means surrogates flow
    assert net.tokenizer.stages[0].local.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", TINY)
def test_spikes_binary_at_every_neuron(name):
    net = create_model(name)
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
             for m in net.modules() if isinstance(m, neuron.BaseNode)]
    sacc = [m.saccadic for m in net.modules() if isinstance(m, SSSA)]
    hooks += [m.register_forward_hook(lambda m, i, o: seen.append(o.detach())) for m in sacc]
    net(_input(net.cfg))
    for h in hooks:
        h.remove()
    assert len(seen) >= 8
    for s in seen:
        assert ((s == 0) | (s == 1)).all()


@pytest.mark.parametrize("name", TINY)
def test_config_round_trips_to_same_id(name):
    cfg = get_config(name)
    again = ArchConfig.from_json(cfg.to_json())
    assert again == cfg and again.id == cfg.id and again.canonical() == cfg.canonical()


def test_ids_differ_between_models():
    ids = {get_config(n).id for n in list_models()}
    assert len(ids) == len(list_models())


def test_reset_net_makes_two_forwards_identical():
    net = create_model("test_sssa_v2")  # train mode: BN uses batch statistics, same batch -> same stats
    x = net.time_major(torch.rand(2, 3, 16, 16))
    first = net.tokenizer(x)  # leaves membrane state behind
    second = net.tokenizer(x)  # membrane potentials carried over: a different output
    assert not torch.equal(first, second)
    functional.reset_net(net)
    a = net.tokenizer(x)
    functional.reset_net(net)
    b = net.tokenizer(x)
    assert torch.equal(a, b)
    assert a.sum() > 0  # not trivially equal because nothing spiked
    # the model's own forward resets state itself (train mode, where the tokens do spike)
    assert net.forward_features(x[0]).sum() > 0
    assert torch.equal(net(x[0]), net(x[0]))


def test_unknown_model_names_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean test_sssa_v2"):
        create_model("test_sssa_v3")


def test_overrides_are_validated():
    assert create_model("test_sssa_v2", num_classes=5).head.out_features == 5
    with pytest.raises(Exception, match="ArchConfig.embed_dim"):
        create_model("test_sssa_v2", embed_dim=33)


def test_paper_param_counts_close_to_paper():
    from snnas.models import get_entry

    for name in ("snnvit_8_384", "snnvit_8_512", "snnvit_cifar", "snnvit_cifar10_dvs"):
        e = get_entry(name)
        ours = count_params(e.config)
        assert abs(ours - e.paper_params) / e.paper_params < 0.06, (name, ours)


def test_event_frame_input_checks_T():
    net = create_model("test_dvs")
    with pytest.raises(Exception, match="T=3"):
        net(torch.zeros(5, 2, 2, 16, 16))
