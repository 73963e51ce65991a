"""The fused CPU neuron path (``compile_neurons``): same neuron as spikingjelly's eager op, and when it is used.

Compiling takes tens of seconds per process, so the tests that compile are ``slow``-marked (run by
``.ci/run``'s second pytest call); the option's checks are tested without compiling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from spikingjelly.activation_based import functional, neuron

from snnas import ArchConfig
from snnas.errors import SnnasError
from snnas.models import LIF, compile_neurons, create_model
from snnas.search import SearchOptions, load_space


def test_compile_choice_is_checked_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    sp = load_space("edge_small")
    assert SearchOptions(space="edge_small").resolved(sp).compile_neurons == "off"  # the default
    assert SearchOptions(space="edge_small", compile_neurons="on").resolved(sp).compile_neurons == "on"
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SnnasError, match="needs a C\\+\\+ compiler"):
        SearchOptions(space="edge_small", compile_neurons="on").resolved(sp)
    assert SearchOptions(space="edge_small", compile_neurons="on", device="cuda").resolved(sp).compile_neurons == "on"


def test_unknown_compile_choice_is_one_line_error() -> None:
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "1",
                        "--compile-neurons", "maybe"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "--compile-neurons must be on or off" in r.stderr


def test_models_build_spikingjelly_lif_nodes() -> None:
    net = create_model(ArchConfig(T=2, depth=1, embed_dim=16, num_heads=2, img_size=16, patch_size=4))
    lifs = [m for m in net.modules() if isinstance(m, LIF)]
    assert lifs and all(isinstance(m, neuron.LIFNode) for m in lifs)
    assert not compile_neurons()  # off unless a search (or the user) turns it on


@pytest.mark.slow
def test_compiled_lif_matches_spikingjelly_eager() -> None:
    """Spikes, final membrane and input gradients of the fused path against spikingjelly's own LIF op."""
    torch.manual_seed(0)
    results = {}
    try:
        for on in (False, True):
            compile_neurons(on)
            for shape, tau, vth in (((4, 8, 6, 16, 16), 2.0, 1.0), ((2, 8, 16, 24), 3.3, 0.5), ((1, 5, 7), 1.7, 1.0)):
                lif = LIF(tau=tau, v_threshold=vth, detach_reset=True, step_mode="m")
                x = (torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape))) * 2).requires_grad_()
                functional.reset_net(lif)
                s = lif(x)
                (s * torch.linspace(-1, 1, s.shape[-1])).sum().backward()
                results[on, shape] = (s.detach(), lif.v.detach(), x.grad)
    finally:
        compile_neurons(False)
    for key in [k for k in results if k[0]]:
        s_c, v_c, g_c = results[key]
        s_e, v_e, g_e = results[False, key[1]]
        assert torch.equal(s_c, s_e), key
        torch.testing.assert_close(v_c, v_e, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g_c, g_e, rtol=1e-5, atol=1e-6)
        assert s_c.sum() > 0 and g_c.abs().sum() > 0  # the case exercised spikes and gradients


@pytest.mark.slow
def test_search_with_compiled_neurons_records_it(tmp_path) -> None:  # noqa: ANN001
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "2", "--quiet",
                        "--compile-neurons", "on", "--no-prune"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    import optuna

    study = optuna.load_study(study_name="edge_tiny-fashion-mini",
                              storage=f"sqlite:///{tmp_path / 'studies' / 'edge_tiny-fashion-mini.db'}")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert {t.user_attrs["neurons"] for t in trials} == {"compiled"}
    assert all("--compile-neurons on" in t.user_attrs["command"] for t in trials)
    assert all(0 < t.values[0] <= 1 and t.values[1] > 0 for t in trials)


@pytest.mark.slow
def test_broken_compiler_falls_back_to_eager_with_one_warning(tmp_path) -> None:  # noqa: ANN001
    code = textwrap.dedent("""
        import json, warnings, torch
        import torch._inductor.config as ic
        ic.cpp.cxx = ("/bin/false",)  # a compiler that always fails
        ic.fx_graph_cache = False
        from snnas import ArchConfig
        from snnas.models import compile_neurons, create_model
        compile_neurons(True)
        torch.manual_seed(0)
        net = create_model(ArchConfig(T=2, depth=1, embed_dim=16, num_heads=2, img_size=16, patch_size=4))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = net(torch.rand(3, 3, 16, 16))
        print(json.dumps({"shape": list(out.shape), "on": compile_neurons(),
                          "warnings": [str(x.message) for x in w if "fused neuron" in str(x.message)]}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["shape"] == [3, 10] and got["on"] is False
    assert len(got["warnings"]) == 1 and "running spikingjelly's eager LIF" in got["warnings"][0]
