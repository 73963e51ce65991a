"""The token-mixer registry: built-ins, registration into ArchConfig, refusals."""

from __future__ import annotations

import pytest

from snnas import ArchConfig, ConfigError
from snnas.config import ATTENTION_KINDS, attention_kinds
from snnas.errors import UnknownNameError
from snnas.models import SDSA, SSA, SSSA, attention_layer, list_attentions, register_attention, unregister_attention
from snnas.models.snn_vit import ATTENTION_LAYERS


class RenamedSSA(SSA):
    """SSA under another name: enough to exercise the registry."""


@pytest.fixture
def renamed():
    register_attention("renamed_ssa", RenamedSSA)
    yield "renamed_ssa"
    unregister_attention("renamed_ssa")


def test_builtins_registered():
    assert list_attentions() == sorted(ATTENTION_KINDS)
    assert (attention_layer("sssa"), attention_layer("ssa"), attention_layer("sdsa")) == (SSSA, SSA, SDSA)
    assert dict(ATTENTION_LAYERS) == {"sssa": SSSA, "ssa": SSA, "sdsa": SDSA}


def test_registering_makes_the_name_a_valid_config(renamed):
    assert ArchConfig(attention=renamed).attention == renamed
    assert attention_kinds()[-1] == renamed and ATTENTION_LAYERS[renamed] is RenamedSSA
    register_attention(renamed, RenamedSSA)  # the same class again: a module imported twice, no error


def test_unregistering_removes_the_name(renamed):
    unregister_attention(renamed)
    with pytest.raises(ConfigError, match="ArchConfig.attention: must be one of sssa, ssa, sdsa"):
        ArchConfig(attention=renamed)
    with pytest.raises(UnknownNameError, match="unknown attention"):
        attention_layer(renamed)
    register_attention(renamed, RenamedSSA)  # for the fixture's clean-up


def test_refusals(renamed):
    with pytest.raises(ValueError, match="registered twice"):
        register_attention(renamed, SSA)
    with pytest.raises(ValueError, match="built in"):
        unregister_attention("ssa")
    with pytest.raises(ValueError, match="non-empty string"):
        register_attention("", RenamedSSA)
    with pytest.raises(UnknownNameError):
        unregister_attention("never_registered")
