"""The search strategy's parts on real studies: no re-training of a known architecture, the predictive gate,
the training-free pre-screen and its scores."""

from __future__ import annotations

import dataclasses
import math

import optuna
import pytest
import torch
from optuna.trial import TrialState

from snnas.search import Attr, SearchOptions, TrialLife, TrialRecord, counts_toward_budget, load_space
from snnas.search._locks import study_lock
from snnas.search._predict import RidgePredictor, features
from snnas.search._prescreen import ZeroCostScorer, prescreen, sahd_kernel
from snnas.search._proxy import ProxyTrainer
from snnas.search._study import DUPLICATE_LIMIT, claim, exhausted
from tests.search.conftest import rung_summary

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
PARAMS = {"T": 1, "embed_dim": 16, "saccades": 4}


def _trained(study, space, opts, params=PARAMS, acc=0.4, prune=False) -> TrialLife:
    study.enqueue_trial(params)
    life = TrialLife(study, study.ask(), space, opts)
    assert life.begin() is not None
    life.rung(0, rung_summary(0, acc - 0.1))
    if prune:
        life.prune(rss=None, reason="rung 0: dominated")
    else:
        life.rung(1, rung_summary(1, acc))
        life.complete(acc, 1.0, {"total_uj": 1.0}, rss=None)
    return life


def _propose(study, space, opts, params=PARAMS) -> tuple[TrialLife, object]:
    study.enqueue_trial(params)
    life = TrialLife(study, study.ask(), space, opts)
    return life, life.begin()


def test_a_known_architecture_takes_the_stored_result_and_is_not_counted(setup):
    study, space, opts = setup
    _trained(study, space, opts, acc=0.4)
    life, cfg = _propose(study, space, opts)
    assert cfg is None and life.finished  # not handed to a trainer
    r = TrialRecord.of(study.trials[1])
    assert r.state == TrialState.COMPLETE and r.values == (0.4, 1.0) and r.duplicate_of == 0
    assert [x["val_accuracy"] for x in r.rungs] == pytest.approx([0.3, 0.4])
    assert not r.counts_toward_budget and not counts_toward_budget(study.trials[1])
    assert counts_toward_budget(study.trials[0])


def test_a_known_pruned_architecture_is_pruned_again_with_the_reason(setup):
    study, space, opts = setup
    _trained(study, space, opts, prune=True)
    _, cfg = _propose(study, space, opts)
    r = TrialRecord.of(study.trials[1])
    assert cfg is None and r.state == TrialState.PRUNED and r.duplicate_of == 0
    assert r.prune_reason == "rung 0: dominated (same architecture as trial 0: its result, not trained)"


def test_other_architectures_other_data_seeds_and_duplicates_train_are_trained(setup):
    study, space, opts = setup
    _trained(study, space, opts)
    assert _propose(study, space, opts, {**PARAMS, "embed_dim": 32})[1] is not None  # another architecture
    assert _propose(study, space, dataclasses.replace(opts, seed=8))[1] is not None  # another validation split
    assert _propose(study, space, dataclasses.replace(opts, duplicates="train"))[1] is not None  # asked for
    assert not any(Attr.DUPLICATE_OF in t.user_attrs for t in study.trials)


def test_a_used_up_space_ends_the_claims(setup, tmp_path):
    study, space, opts = setup
    _trained(study, space, opts)
    lock = study_lock(f"sqlite:///{tmp_path / 's.db'}", tmp_path, "s")
    for i in range(DUPLICATE_LIMIT):
        assert not exhausted(study.get_trials(deepcopy=False)), i
        study.enqueue_trial(PARAMS)  # the sampler proposes the known architecture again
        trial = claim(study, 5, lock)
        assert TrialLife(study, trial, space, opts).begin() is None
    assert exhausted(study.get_trials(deepcopy=False))
    assert claim(study, 5, lock) is None  # 1 of 5 counted, but nothing new is proposed: the search ends
    assert sum(counts_toward_budget(t) for t in study.trials) == 1


def _gate_population(study, space, opts):
    # 16 T=4 trials start fast (rung 0 0.25) and end at 0.30; 4 T=1 ones start slowly (0.15) and end at 0.60
    for T, n, early, final in ((4, 16, 0.25, 0.30), (1, 4, 0.15, 0.60)):
        for i in range(n):
            cfg = {"T": T, "embed_dim": 16, "depth": 1, "saccades": 4}
            study.add_trial(optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=[final, 1.0],
                user_attrs={Attr.CONFIG: cfg, Attr.PARAMS: 5000, "rung0": rung_summary(0, early + 0.001 * i),
                            "rung1": rung_summary(1, final)}))


@pytest.mark.parametrize("gate", ["raw", "predicted"])
def test_the_predictive_gate_keeps_a_slow_starter_the_raw_gate_prunes(setup, gate):
    study, space, opts = setup
    _gate_population(study, space, opts)
    life = TrialLife(study, study.ask(), space, dataclasses.replace(opts, gate=gate))
    life.trial.set_user_attr(Attr.CONFIG, {"T": 1, "embed_dim": 16, "depth": 1, "saccades": 4})
    life.trial.set_user_attr(Attr.PARAMS, 5000)
    life.rung(0, rung_summary(0, 0.15))
    verdict = life.gate(0, 0.15, 1.0)
    if gate == "raw":
        assert verdict is not None and "rung 0 accuracy 0.150" in verdict
    else:
        assert verdict is None


def test_the_ridge_model_waits_for_enough_trials_and_fits_a_linear_truth():
    X = [[float(i % 7), float(i % 3)] for i in range(30)]
    y = [0.1 * a - 0.2 * b + 0.5 for a, b in X]
    assert RidgePredictor.fit(X[:5], y[:5]) is None
    m = RidgePredictor.fit(X, y, alpha=1e-9)
    assert m.predict([[3.0, 1.0]])[0] == pytest.approx(0.6, abs=1e-6)
    f = features({"T": 4, "saccades": "threshold"}, {"val_accuracy": 0.2, "train_loss": float("nan"), "energy_uj": 2})
    assert f[0] == 2.0 and f[8] == 1.0 and f[12] == 10.0  # log2 T, threshold saccades, a non-finite loss bounded


def test_sahd_rewards_diverse_spike_patterns():
    same = [torch.ones(4, 6)]  # every image answered with the same pattern: a singular kernel
    diverse = [torch.eye(4, 6)]
    assert torch.linalg.slogdet(sahd_kernel(same)).sign == 0
    assert torch.linalg.slogdet(sahd_kernel(diverse)).logabsdet > 0


def test_the_prescreen_queues_scored_distinct_candidates_that_the_first_trials_train(setup):
    study, space, opts = setup
    trainer = ProxyTrainer(space, device="cpu", threads=1)
    scores = ZeroCostScorer(trainer).score(space.config_from_params(PARAMS), seed=0)
    assert scores["params"] > 0 and scores["energy_init_uj"] > 0 and math.isfinite(scores["sahd"])
    done = prescreen(study, space, trainer, candidates=5, pool=3, seed=0)
    assert done["candidates"] == 5 and done["queued"] == 3
    lives = [TrialLife(study, study.ask(), space, opts) for _ in range(3)]
    cfgs = [life.begin() for life in lives]
    assert len({c.id for c in cfgs}) == 3
    marks = [t.user_attrs[Attr.PRESCREEN] for t in study.trials]
    assert [m["place"] for m in marks] == [0, 1, 2] and all(m["of"] == 5 for m in marks)
    ranks = [m["rank"] for m in marks]
    assert ranks == sorted(ranks)  # the most promising first


def test_a_space_file_sets_the_sampler_and_prescreen_and_bad_ones_are_one_line(tmp_path):
    from snnas.errors import ConfigError
    base = open(load_space("edge_tiny").source).read()
    good = tmp_path / "good.toml"
    good.write_text(base + '\n[search]\nsampler = "nsga2"\nprescreen = 50\n')
    space = load_space(str(good))
    assert (space.sampler, space.prescreen) == ("nsga2", 50)
    opts = SearchOptions(space=str(good)).resolved(space)
    assert (opts.sampler, opts.prescreen) == ("nsga2", 50)
    assert SearchOptions(space=str(good), sampler="random", prescreen=0).resolved(space).prescreen == 0
    assert load_space("edge_small").sampler == "tpe" and load_space("edge_small").prescreen == 200
    assert load_space("edge_tiny").sampler is None and SearchOptions(space="edge_tiny").resolved(
        load_space("edge_tiny")).sampler == "tpe"
    for text, key in (('sampler = "cmaes"', "search.sampler"), ("prescreen = -1", "search.prescreen"),
                      ('prescreen = "many"', "search.prescreen"), ("pool = 3", "pool")):
        bad = tmp_path / "bad.toml"
        bad.write_text(base + f"\n[search]\n{text}\n")
        with pytest.raises(ConfigError) as e:
            load_space(str(bad))
        assert key in str(e.value) and "\n" not in str(e.value)


def test_a_search_prescreens_once_per_study_and_resumes_without_scoring_again(tmp_path, monkeypatch):
    from rich.console import Console

    from snnas.search import search

    monkeypatch.chdir(tmp_path)
    opts = SearchOptions(space="edge_tiny", budget=2, prescreen=4, sampler="random", threads=1)
    study = search(opts, quiet=True, console=Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    done = study.user_attrs["prescreen"]
    assert done["candidates"] == 4 and done["queued"] == 1  # a quarter of the budget of 2, at least one
    first = study.trials[0]
    assert first.user_attrs[Attr.PRESCREEN]["place"] == 0 and counts_toward_budget(first)
    again = search(SearchOptions(space="edge_tiny", budget=3, prescreen=4, sampler="random", threads=1), quiet=True)
    assert again.user_attrs["prescreen"] == done  # not scored again on resume
    assert sum(Attr.PRESCREEN in t.user_attrs for t in again.trials) == 1
    assert sum(counts_toward_budget(t) for t in again.trials) == 3
