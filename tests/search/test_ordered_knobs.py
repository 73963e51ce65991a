"""Ordered knobs (``choices = [...]`` with ``ordered = true``): sampled as an index Optuna sees as ordered, read
and replayed as values, and the shipped spaces reach exactly the architectures they reached as categoricals."""

from __future__ import annotations

import itertools
import json
import re
import tomllib

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from snnas.config import ArchConfig
from snnas.data import adapt_config
from snnas.errors import ConfigError
from snnas.search import load_space
from snnas.search._space_file import parse_space
from snnas.search.space import Knob

optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL = """\
name = "ordered"
dataset = "fashion-mini"
[fixed]
img_size = 16
patch_size = 4
num_heads = 2
[knobs.T]
choices = [1, 2, 4]
ordered = true
[knobs.embed_dim]
choices = [16, 32, 64]
ordered = true
[knobs.mlp_ratio]
choices = [1.0, 2.0]
ordered = true
[knobs.saccades]
choices = ["threshold", 2, 4]
[knobs.depth]
low = 1
high = 2
[fidelity]
rungs = [{ epochs = 1, fraction = 0.5 }, { epochs = 2, fraction = 1.0 }]
eta = 2
"""
ORDERED = ("T", "embed_dim", "mlp_ratio")


def space_of(text: str, tmp_path, name: str = "ordered.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_space(path)


def unordered(text: str) -> str:
    """The same file with every ``ordered = true`` dropped: the categorical space it was before."""
    return text.replace("ordered = true\n", "")


def discrete_combinations(space):
    """Every combination of the choice knobs' values (range knobs at their low end), as value dicts."""
    choice = [k for k in space.knobs if k.choices is not None]
    ranges = {k.name: k.low for k in space.knobs if k.choices is None}
    for combo in itertools.product(*(k.choices for k in choice)):
        yield {**ranges, **{k.name: v for k, v in zip(choice, combo, strict=True)}}


def test_ordered_form_parses_and_describes(tmp_path):
    space = space_of(SMALL, tmp_path)
    T = space.knob("T")
    assert (T.kind, T.choices, T.param) == ("ordered", (1, 2, 4), "T.index")
    assert space.knob("T.index") is T  # found by its Optuna parameter too
    assert space.knob("saccades").kind == "categorical" and space.knob("saccades").param == "saccades"
    assert T.domain() == "{1, 2, 4} ordered" and space.knob("mlp_ratio").choices == (1.0, 2.0)
    d = {k["name"]: k for k in json.loads(json.dumps(space.describe()))["knobs"]}
    assert d["T"] == {"name": "T", "kind": "ordered", "domain": "{1, 2, 4} ordered", "param": "T.index",
                      "choices": [1, 2, 4], "ordered": True}
    assert d["saccades"]["ordered"] is False and d["depth"]["param"] == "depth"
    # ordered = false is the plain categorical form
    plain = space_of(SMALL.replace("ordered = true", "ordered = false"), tmp_path, "plain.toml")
    assert all(k.kind == "categorical" for k in plain.knobs if k.choices is not None)


def test_optuna_sees_an_int_distribution_over_the_index(tmp_path):
    space = space_of(SMALL, tmp_path)
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    cfg = space.suggest(trial)
    for name in ORDERED:
        knob = space.knob(name)
        assert name not in trial.params
        assert trial.distributions[knob.param] == IntDistribution(0, len(knob.choices) - 1) == knob.distribution()
        assert getattr(cfg, name) == knob.choices[trial.params[knob.param]]
    assert isinstance(trial.distributions["saccades"], CategoricalDistribution)


def test_every_combination_gives_the_config_it_gave_as_a_categorical(tmp_path):
    ordered, before = space_of(SMALL, tmp_path), space_of(unordered(SMALL), tmp_path, "before.toml")
    assert all(k.kind == "categorical" for k in before.knobs if k.choices is not None)
    seen = set()
    for values in discrete_combinations(before):
        cfg = before.config_from_params(values)
        params = ordered.params_from_values(values)  # the study's form: indices under <name>.index
        assert all(params[f"{n}.index"] == ordered.knob(n).choices.index(values[n]) for n in ORDERED)
        assert ordered.config_from_params(values) == cfg  # values, as a user types them
        assert ordered.config_from_params(params) == cfg  # indices, as the study records them
        assert ordered.suggest(optuna.trial.FixedTrial(params)) == cfg
        assert ordered.values_from_params(params) == values
        seen.add(cfg.id)
    assert len(seen) == 3 * 3 * 2 * 3


def test_values_and_indices_are_never_ambiguous(tmp_path):
    space = space_of(SMALL, tmp_path)
    base = {"embed_dim": 32, "mlp_ratio": 1.0, "saccades": 2, "depth": 1}
    assert space.config_from_params({**base, "T": 2}).T == 2  # a value under the knob's name
    assert space.config_from_params({**base, "T.index": 2}).T == 4  # an index under <name>.index
    assert space.values_from_params({"mlp_ratio": 2}) == {"mlp_ratio": 2.0}  # the choice as declared
    for bad, words in [({"T": 3}, "T=3 is outside its domain {1, 2, 4} ordered"),
                       ({"T.index": 3}, "T.index=3 is not an index 0..2"),
                       ({"T.index": True}, "T.index=True is not an index"),
                       ({"T.index": 1.0}, "T.index=1.0 is not an index"),
                       ({"T": 4, "T.index": 2}, "T is given twice"),
                       ({"depth.index": 0}, "depth.index are not knobs")]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            space.config_from_params({**base, **bad})
    with pytest.raises(ConfigError, match=r"knob T is missing .* give T \(a value\) or T\.index \(its index\)"):
        space.config_from_params(base)


def test_a_dict_trial_is_asked_for_the_index(tmp_path):
    from tests.search.test_space import DictTrial

    space = space_of(SMALL, tmp_path)
    trial = DictTrial({"T.index": 1, "embed_dim.index": 2, "mlp_ratio.index": 0, "saccades": 4, "depth": 2})
    cfg = space.suggest(trial)
    assert (cfg.T, cfg.embed_dim, cfg.mlp_ratio, cfg.saccades) == (2, 64, 1.0, 4)
    assert {"T.index", "embed_dim.index", "mlp_ratio.index"} <= set(trial.asked)


def test_a_tpe_study_on_an_ordered_space_draws_valid_configs(tmp_path):
    space = space_of(SMALL, tmp_path)
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4))
    ids = set()
    for _ in range(16):
        trial = study.ask()
        cfg = space.suggest(trial)
        values = space.values_from_params(trial.params)
        assert all(getattr(cfg, n) == v and space.knob(n).contains(v) for n, v in values.items())
        assert space.config_from_params(trial.params) == cfg == space.config_from_params(values)
        frozen = optuna.trial.create_trial(params=trial.params, values=[0.5, 1.0],
                                           distributions={p: space.knob(p).distribution() for p in trial.params})
        assert frozen.distributions == trial.distributions
        ids.add(cfg.id)
        study.tell(trial, [cfg.T / 4 - abs(cfg.embed_dim - 32) / 64, float(cfg.T * cfg.embed_dim)])
    assert len(ids) > 4


# ---------------------------------------------------------------------------------------------- shipped spaces
# edge_small's knobs as they were declared before ordered knobs (all plain categorical choices or ranges).
EDGE_SMALL_BEFORE = {"saccades": ["threshold", 2, 4, 8], "T": [1, 2, 4], "embed_dim": [16, 32, 48, 64],
                     "num_heads": [1, 2, 4], "tokenizer": ["sps", "gl_sps"], "kappa": ["data", "learned"],
                     "mlp_ratio": [1.0, 2.0]}
EDGE_SMALL_RANGES = {"depth": Knob("depth", "int", low=1, high=2, step=1),
                     "neuron_tau": Knob("neuron_tau", "float", low=1.5, high=4.0)}
ORDERED_IN = {"edge_small": {"T", "embed_dim", "num_heads", "mlp_ratio"}, "cifar": {"T", "embed_dim", "num_heads",
              "mlp_ratio"}, "dvs": {"T", "embed_dim", "mlp_ratio"}, "attn_compare": {"T", "embed_dim", "depth"},
              "edge_tiny": set()}


@pytest.mark.parametrize("name", sorted(ORDERED_IN))
def test_shipped_spaces_declare_numeric_choices_ordered_with_the_same_values(name):
    space = load_space(name)
    assert {k.name for k in space.knobs if k.kind == "ordered"} == ORDERED_IN[name]
    with open(space.source, "rb") as f:
        data = tomllib.load(f)
    for spec in data["knobs"].values():
        spec.pop("ordered", None)
    before = parse_space(data, space.source)  # the same file as a categorical space
    assert [k.name for k in before.knobs] == [k.name for k in space.knobs]
    for old, new in zip(before.knobs, space.knobs, strict=True):
        assert (old.choices, old.low, old.high, old.step, old.log) == (new.choices, new.low, new.high, new.step,
                                                                       new.log)
    assert "saccades" not in ORDERED_IN[name]  # "threshold" and counts: no order


def test_edge_small_reaches_exactly_the_architectures_it_did():
    space = load_space("edge_small")
    assert {k.name for k in space.knobs if k.kind == "ordered"} == ORDERED_IN["edge_small"]
    assert {k.name: list(k.choices) for k in space.knobs if k.choices is not None} == EDGE_SMALL_BEFORE
    assert {k.name: k for k in space.knobs if k.choices is None} == EDGE_SMALL_RANGES
    names = list(EDGE_SMALL_BEFORE)
    before, after = set(), set()
    for combo in itertools.product(*EDGE_SMALL_BEFORE.values()):
        values = {**dict(zip(names, combo, strict=True)), "depth": 1, "neuron_tau": 1.5}
        # before: what the categorical space built (every knob is active: attention = "sssa" is fixed)
        before.add(adapt_config(ArchConfig(**space.fixed, **values), space.dataset).id)
        after.add(space.config_from_params(space.params_from_values(values)).id)
    assert after == before and len(before) == 4 * 3 * 4 * 3 * 2 * 2 * 2


def test_snnas_trial_takes_values_or_indices_and_names_a_bad_one(tmp_path, monkeypatch, capsys):
    from tests.search.test_space import main_in_process

    path = tmp_path / "ordered.toml"
    path.write_text(SMALL)
    rest = {"embed_dim": 32, "mlp_ratio": 1.0, "saccades": 2, "depth": 1}
    for params, words in [({**rest, "T": 3}, "T=3 is outside its domain {1, 2, 4} ordered"),
                          ({**rest, "T.index": 9}, "T.index=9 is not an index 0..2"),
                          ({**rest, "T": 4, "T.index": 2}, "T is given twice")]:
        code, _, err = main_in_process(monkeypatch, capsys, "trial", "--space", str(path), "--params",
                                       json.dumps(params))
        assert code == 2 and words in " ".join(err.split()) and "Traceback" not in err, err
