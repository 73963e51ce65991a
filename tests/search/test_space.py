"""Search spaces as files: shipped spaces load, trials map purely onto valid configs, bad files fail at load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from snnas.config import ACTIVE_WHEN as CONDITIONS
from snnas.config import ArchConfig
from snnas.errors import ConfigError, SnnasError
from snnas.search import SearchSpace, list_spaces, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)
SHIPPED = ["attn_compare", "cifar", "dvs", "edge_small", "edge_tiny"]


class DictTrial:
    """The narrow trial protocol and nothing more: a plain dict replay that records what was asked."""

    def __init__(self, params: dict) -> None:
        self.params, self.asked = params, []

    def suggest_categorical(self, name, choices):
        assert self.params[name] in choices
        self.asked.append(name)
        return self.params[name]

    def suggest_int(self, name, low, high, step=1):
        assert low <= self.params[name] <= high and (self.params[name] - low) % step == 0
        self.asked.append(name)
        return self.params[name]

    def suggest_float(self, name, low, high, log=False):
        assert low <= self.params[name] <= high
        self.asked.append(name)
        return self.params[name]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------------------------------- shipped spaces
def test_the_five_spaces_are_shipped():
    assert set(SHIPPED) <= set(list_spaces())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_space_loads_and_describes(name):
    space = load_space(name)
    assert space.name == name and Path(space.source).stem == name
    d = json.loads(json.dumps(space.describe()))
    assert d["name"] == name and d["dataset"] == space.dataset and len(d["rungs"]) == len(space.rungs) >= 1
    assert [k["name"] for k in d["knobs"]] == [k.name for k in space.knobs]
    assert space.max_epochs == space.rungs[-1].epochs


def asks(space: SearchSpace, seed: int, n: int = 20) -> list[tuple[ArchConfig, dict]]:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed))
    out = []
    for i in range(n):
        trial = study.ask()
        cfg = space.suggest(trial)
        out.append((cfg, dict(trial.params)))
        study.tell(trial, [((i * 37) % 11) / 11, float(cfg.embed_dim * cfg.T)])  # deterministic fake objectives
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_suggest_with_a_real_study_is_valid_deterministic_and_replays(name):
    space = load_space(name)
    from snnas.data import get_entry

    entry = get_entry(space.dataset)
    first = asks(space, seed=3)
    for cfg, params in first:
        assert isinstance(cfg, ArchConfig)
        assert (cfg.in_channels, cfg.num_classes) == (entry.shape[0], len(entry.classes))
        for key, value in space.fixed.items():
            if all(getattr(cfg, c) == v for c, v in CONDITIONS.get(key, ())):
                assert getattr(cfg, key) == value
        values = space.values_from_params(params)  # an ordered knob's index -> its value
        assert set(values) == {space.knob(p).name for p in params}
        for name, value in values.items():
            assert space.knob(name).contains(value) and getattr(cfg, name) == value
        replay = space.suggest(optuna.trial.FixedTrial(params))
        assert replay == cfg and replay.id == cfg.id
        assert space.config_from_params(params).id == cfg.id == space.config_from_params(values).id
    assert [c.id for c, _ in asks(space, seed=3)] == [c.id for c, _ in first]


def test_dict_trial_protocol_and_inactive_knobs_not_asked(tmp_path):
    path = tmp_path / "cond.toml"
    path.write_text(BASE.replace("[knobs.T]", '[knobs.attention]\nchoices = ["sssa", "ssa"]\n'
                                 '[knobs.kappa]\nchoices = ["data", "learned"]\n[knobs.T]'))
    space = load_space(path)
    trial = DictTrial({"attention": "ssa", "T": 2, "depth": 1, "embed_dim": 16, "neuron_tau": 2.5})
    cfg = space.suggest(trial, dataset="cifar10")
    assert "kappa" not in trial.asked and trial.asked[0] == "attention"
    assert (cfg.attention, cfg.T, cfg.neuron_tau, cfg.in_channels) == ("ssa", 2, 2.5, 3)
    trial = DictTrial({"attention": "sssa", "kappa": "learned", "T": 1, "depth": 2, "embed_dim": 32,
                       "neuron_tau": 1.5})
    assert space.suggest(trial).kappa == "learned" and "kappa" in trial.asked
    described = {k["name"]: k for k in space.describe()["knobs"]}
    assert described["kappa"]["active_when"] == {"attention": "sssa"} and "active_when" not in described["T"]


def test_conditions_mirror_archconfig_resets():
    off = {"sssa_version": "v1", "saccades": 4, "kappa": "learned", "fixation": "shared", "sssa_inference": "folded",
           "vth_mode": "scalar", "vth_init": 0.5, "tokenizer_dilation": 3, "temporal_mixing": "identity"}
    assert set(off) == set(CONDITIONS)
    small = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "num_heads": 2}
    reset = ArchConfig(**small, attention="ssa", tokenizer="sps", **off)
    assert all(getattr(reset, k) == getattr(ArchConfig(), k) for k in off)
    for name, conds in CONDITIONS.items():
        on = {c: v for c, v in conds}
        kept = ArchConfig(**{**small, "tokenizer": "gl_sps", **on, name: off[name]})
        assert getattr(kept, name) == off[name], name


def test_config_from_params_rejects_foreign_or_out_of_domain_params():
    space = load_space("edge_tiny")
    with pytest.raises(ConfigError, match="depth"):
        space.config_from_params({"T": 1, "embed_dim": 16, "saccades": 4, "depth": 2})
    with pytest.raises(ConfigError, match="embed_dim=24"):
        space.config_from_params({"T": 1, "embed_dim": 24, "saccades": 4})
    with pytest.raises(ConfigError, match="saccades"):
        space.config_from_params({"T": 1, "embed_dim": 16})


def test_knob_distributions_rebuild_a_trial():
    space = load_space("edge_small")
    cfg, params = asks(space, seed=0, n=1)[0]
    trial = optuna.trial.create_trial(params=params, distributions={k: space.knob(k).distribution() for k in params},
                                      values=[0.5, 1.0])
    assert space.config_from_params(trial.params) == cfg


def test_rung_timesteps_and_constraints():
    space = load_space("edge_small")
    assert space.constraint_values(params=100_000, energy_uj=3.0) == [-50_000.0]
    assert space.replace(max_energy_uj=2.0).constraint_values(200_000, 3.0) == [50_000.0, 1.0]
    assert all(r.timesteps(4) == 4 for r in space.rungs)


def test_load_by_path_and_unknown_names(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(BASE)
    assert load_space(str(path)).name == "mine" and load_space(path).source == str(path)
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "absent.toml")
    with pytest.raises(SnnasError, match="did you mean edge_small"):
        load_space("edge_smal")


# ---------------------------------------------------------------------------------------------- malformed files
BASE = """\
name = "mine"
dataset = "fashion-mini"
[fixed]
img_size = 16
patch_size = 4
num_heads = 2
[knobs.T]
choices = [1, 2]
[knobs.depth]
low = 1
high = 2
[knobs.embed_dim]
choices = [16, 32]
[knobs.neuron_tau]
low = 1.5
high = 4.0
[fidelity]
rungs = [{ epochs = 1, fraction = 0.5 }, { epochs = 2, fraction = 1.0 }]
eta = 2
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def ordered_T(choices: str) -> str:
    return edit("choices = [1, 2]\n", f"choices = {choices}\nordered = true\n")


MALFORMED = {
    "not_toml": ("not valid TOML", BASE + "\nname = \n"),
    "missing_name": ("name", edit('name = "mine"\n', "")),
    "missing_knobs": ("knobs", BASE.split("[knobs.T]")[0] + "[fidelity]" + BASE.split("[fidelity]")[1]),
    "missing_fidelity": ("fidelity", BASE.split("[fidelity]")[0]),
    "unknown_table": ("fidelty", BASE + "[fidelty]\neta = 3\n"),
    "unknown_knob": ("knobs.dpeth", edit("[knobs.depth]", "[knobs.dpeth]")),
    "fixed_and_knob": ("knobs.T", edit("[fixed]\n", "[fixed]\nT = 2\n")),
    "knob_without_domain": ("knobs.T", edit("choices = [1, 2]\n", "")),
    "knob_with_both": ("knobs.T", edit("choices = [1, 2]\n", "choices = [1, 2]\nlow = 1\nhigh = 2\n")),
    "empty_choices": ("knobs.T.choices", edit("choices = [1, 2]", "choices = []")),
    "ordered_not_bool": ("knobs.T.ordered: must be true or false", edit("choices = [1, 2]\n",
                                                                         'choices = [1, 2]\nordered = "yes"\n')),
    "ordered_on_range": ("knobs.depth.ordered: applies to choices", edit("high = 2", "high = 2\nordered = true")),
    "ordered_strings": ("knobs.saccades.choices: ordered = true needs finite numbers",
                        BASE + '[knobs.saccades]\nchoices = ["threshold", 2, 4]\nordered = true\n'),
    "ordered_nan": ("knobs.T.choices: ordered = true needs finite numbers", ordered_T("[1.0, nan]")),
    "ordered_one_value": ("knobs.T.choices: ordered = true needs at least 2", ordered_T("[2]")),
    "ordered_decreasing": ("knobs.T.choices: ordered = true needs strictly increasing values (1 follows 2)",
                           ordered_T("[2, 1]")),
    "ordered_duplicates": ("knobs.T.choices: has duplicates", ordered_T("[1, 2, 2]")),
    "ordered_bool": ("knobs.T.choices: values must be strings or numbers", ordered_T("[1, true]")),
    "ordered_invalid_value": ("knobs.embed_dim", edit("choices = [16, 32]", "choices = [16, 33, 64]\nordered = true")),
    "low_above_high": ("knobs.depth.low", edit("low = 1\nhigh = 2", "low = 3\nhigh = 2")),
    "int_below_one": ("knobs.depth.low", edit("low = 1\nhigh = 2", "low = 0\nhigh = 2")),
    "non_numeric_range": ("knobs.neuron_tau.high", edit("high = 4.0", 'high = "four"')),
    "log_nonpositive": ("knobs.neuron_vth.low", BASE + "[knobs.neuron_vth]\nlow = 0.0\nhigh = 1.0\nlog = true\n"),
    "range_on_text_field": ("knobs.kappa", BASE + "[knobs.kappa]\nlow = 1\nhigh = 2\n"),
    "fixed_invalid": ("fixed.patch_size", edit("patch_size = 4", "patch_size = 3")),
    "fixed_from_dataset": ("fixed.in_channels", edit("[fixed]\n", "[fixed]\nin_channels = 3\n")),
    "float_below_archconfig_min": ("knobs.neuron_tau.low", edit("low = 1.5", "low = 1.0")),
    "embed_heads_indivisible": ("knobs.embed_dim", edit("choices = [16, 32]", "choices = [16, 24]")
                                .replace("num_heads = 2\n", "") + "[knobs.num_heads]\nchoices = [2, 16]\n"),
    "saccades_above_tokens": ("knobs.saccades", BASE + '[knobs.saccades]\nchoices = ["threshold", 4, 32]\n'),
    "knob_without_effect": ("knobs.kappa", edit("[fixed]\n", '[fixed]\nattention = "ssa"\n')
                            + '[knobs.kappa]\nchoices = ["data", "learned"]\n'),
    "rungs_empty": ("fidelity.rungs", edit("rungs = [{ epochs = 1, fraction = 0.5 }, { epochs = 2, fraction = 1.0 }]",
                                           "rungs = []")),
    "epochs_not_increasing": ("fidelity.rungs[1].epochs", edit("epochs = 2", "epochs = 1")),
    "fraction_out_of_range": ("fidelity.rungs[0].fraction", edit("fraction = 0.5", "fraction = 0.0")),
    "fraction_decreasing": ("fidelity.rungs[1].fraction", edit("fraction = 1.0", "fraction = 0.25")),
    "last_rung_sets_T": ("fidelity.rungs[1].T", edit("fraction = 1.0 }", "fraction = 1.0, T = 1 }")),
    "eta_below_two": ("fidelity.eta", edit("eta = 2", "eta = 1")),
    "unknown_dataset": ("dataset", edit('"fashion-mini"', '"fashion-mnii"')),
    "unknown_profile": ("objectives.profile", BASE + '[objectives]\nprofile = "cmos54"\n'),
    "constraint_not_positive": ("constraints.max_energy_uj", BASE + "[constraints]\nmax_energy_uj = -1.0\n"),
    "train_out_of_range": ("train.val_fraction", BASE + "[train]\nval_fraction = 1.5\n"),
    "train_unknown_key": ("train.batchsize", BASE + "[train]\nbatchsize = 32\n"),
}


def test_base_file_is_valid(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(BASE)
    assert [k.name for k in load_space(path).knobs] == ["T", "depth", "embed_dim", "neuron_tau"]


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_names_file_and_key(tmp_path, case):
    key, text = MALFORMED[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_space(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and key in message and "\n" not in message, message


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_spaces_json_lists_the_shipped_spaces():
    r = run_cli("spaces", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(SHIPPED) <= set(rows)
    assert rows["edge_small"]["dataset"] == "fashion-mini"
    assert {k["name"] for k in rows["edge_small"]["knobs"]} >= {"saccades", "T", "depth", "embed_dim", "kappa"}
    assert rows["edge_tiny"]["constraints"] == {"max_params": None, "max_energy_uj": None}


def main_in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    # The same entry point as the console script, without paying a second interpreter start-up.
    from snnas.cli import main

    monkeypatch.setattr(sys, "argv", ["snnas", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return exit_.value.code or 0, out.out, out.err


def test_cli_spaces_table_unknown_name_and_malformed_file(tmp_path, monkeypatch, capsys):
    code, out, err = main_in_process(monkeypatch, capsys, "spaces")
    assert code == 0 and all(name in out for name in SHIPPED) and "saccades" in out, err
    code, out, err = main_in_process(monkeypatch, capsys, "spaces", "edge_smal")
    assert code == 2 and "Traceback" not in err and err.strip().count("\n") == 0
    assert "unknown search space 'edge_smal'" in err and "edge_small" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(MALFORMED["eta_below_two"][1])
    code, out, err = main_in_process(monkeypatch, capsys, "spaces", str(bad))
    assert code == 2 and "fidelity.eta" in err and str(bad) in " ".join(err.split()) and "Traceback" not in err


def test_docstring_examples():
    import doctest

    import snnas.search.space as module

    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
