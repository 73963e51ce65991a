"""A first rung at fewer timesteps (``T`` in a rung) must not change how the salience is calibrated."""

from __future__ import annotations

import torch

import snnas.search._proxy as proxy
from snnas.config import ArchConfig
from snnas.models.sssa import SaccadicNeuron
from snnas.search import ProxyTrainer, load_space
from snnas.search.space import Rung

CFG = ArchConfig(T=4, depth=1, embed_dim=16, num_heads=2, mlp_ratio=1.0, img_size=16, patch_size=4, in_channels=1,
                 num_classes=10, tokenizer="sps")


def _scales(space, monkeypatch) -> list[torch.Tensor]:
    nets = []
    build = proxy.create_model

    def keep(cfg):  # the trainer's own network, kept to read its calibration after the run
        nets.append(build(cfg))
        return nets[-1]

    with monkeypatch.context() as m:
        m.setattr(proxy, "create_model", keep)
        ProxyTrainer(space, device="cpu", threads=1).run(CFG, seed=3)
    return [n.scale.clone() for n in nets[0].modules() if isinstance(n, SaccadicNeuron)]


def test_a_short_first_rung_calibrates_every_timestep_as_a_full_T_training_does(monkeypatch):
    base = load_space("edge_tiny")
    full = _scales(base.replace(rungs=(Rung(1, 0.1), Rung(2, 0.2))), monkeypatch)
    short = _scales(base.replace(rungs=(Rung(1, 0.1, T=1), Rung(2, 0.2))), monkeypatch)
    assert full and all(s.ne(1).all() for s in full)  # calibrated at every timestep
    # before: the scales of t >= 1 came from rung 1's first batch, on a network already trained at T=1
    for a, b in zip(full, short, strict=True):
        assert torch.equal(a, b)
