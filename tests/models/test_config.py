from __future__ import annotations

import pytest

from snnas import ArchConfig, ConfigError


def test_defaults_valid_and_json_round_trip():
    cfg = ArchConfig()
    assert ArchConfig.from_json(cfg.to_json()) == cfg
    assert len(cfg.id) == 12


def test_ints_for_floats_give_same_id():
    a = ArchConfig(mlp_ratio=4, neuron_tau=2, vth_init=1)
    b = ArchConfig(mlp_ratio=4.0, neuron_tau=2.0, vth_init=1.0)
    assert a == b and a.id == b.id
    assert isinstance(a.neuron_tau, float)  # spikingjelly asserts tau is a float


def test_id_changes_with_any_field():
    assert ArchConfig(T=4).id != ArchConfig(T=2).id
    assert ArchConfig(saccades=4).id != ArchConfig(saccades=5).id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"T": 0}, "T"),
        ({"depth": -1}, "depth"),
        ({"embed_dim": 100, "num_heads": 8}, "embed_dim"),
        ({"attention": "softmax"}, "attention"),
        ({"saccades": 0}, "saccades"),
        ({"saccades": 10_000}, "saccades"),
        ({"saccades": "many"}, "saccades"),
        ({"patch_size": 3}, "patch_size"),
        ({"patch_size": 32, "img_size": 64}, "patch_size"),
        ({"img_size": 30}, "img_size"),
        ({"neuron_tau": 1.0}, "neuron_tau"),
        ({"mlp_ratio": float("nan")}, "mlp_ratio"),
        ({"sssa_version": "v1", "kappa": "learned"}, "kappa"),
        ({"sssa_inference": "folded", "saccades": 4}, "sssa_inference"),
        ({"surrogate": "tanh"}, "surrogate"),
        ({"vth_mode": "dynamic"}, "vth_mode"),
    ],
)
def test_validation_names_the_bad_field(changes, field):
    with pytest.raises(ConfigError, match=rf"ArchConfig\.{field}:"):
        ArchConfig(**changes)


def test_from_dict_names_unknown_fields():
    with pytest.raises(ConfigError, match="unknown field.*widht"):
        ArchConfig.from_dict({"widht": 3})
    with pytest.raises(ConfigError, match="not valid JSON"):
        ArchConfig.from_json("{oops")


def test_saccades_int_from_float():
    assert ArchConfig(saccades=4.0).saccades == 4
