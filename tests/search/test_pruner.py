"""Pareto successive halving on synthetic rung data."""

from __future__ import annotations

import pytest

from snnas.search import hypervolume_2d, nondominated_ranks, pareto_front, pareto_keep


def test_ranks_peel_fronts():
    pts = [(0.9, 5.0), (0.8, 1.0), (0.85, 3.0), (0.7, 6.0), (0.6, 0.5), (0.5, 7.0)]
    assert nondominated_ranks(pts) == [0, 0, 0, 1, 0, 2]
    assert pareto_front(pts) == [0, 2, 1, 4]


def test_no_pruning_below_min_population():
    keep, why = pareto_keep((0.0, 99.0), [(0.9, 1.0)], eta=3, min_population=3)
    assert keep and "no pruning yet" in why


@pytest.mark.parametrize(("mine", "expected"), [
    ((0.95, 10.0), True),   # most accurate: on the front, first place
    ((0.10, 0.01), True),   # cheapest: also on the front; front members sorted by accuracy, rank decides first
    ((0.50, 5.0), False),   # dominated by (0.9, 1.0)
    ((0.89, 1.1), False),   # nearly as good, still dominated: rank 1
])
def test_keep_top_third_by_rank_then_accuracy(mine, expected):
    others = [(0.9, 1.0), (0.8, 2.0), (0.7, 0.5), (0.6, 3.0), (0.4, 4.0)]
    keep, why = pareto_keep(mine, others, eta=3, min_population=2)
    # population 6, keep ceil(6 / 3) = 2 places; front = (0.9, 1.0), (0.7, 0.5) (+ mine if non-dominated)
    if mine == (0.10, 0.01):
        # the front has 3 members sorted by accuracy: 0.9, 0.7, 0.10 -> mine is third of 2 kept
        assert not keep and "place 3 of 6" in why
    else:
        assert keep is expected, why


def test_pruning_rate_matches_eta():
    import random

    rnd = random.Random(0)
    population: list[tuple[float, float]] = []
    kept = 0
    for _ in range(300):
        mine = (rnd.random(), rnd.random())
        keep, _ = pareto_keep(mine, population, eta=3, min_population=4)
        kept += keep
        population.append(mine)
    assert 0.25 < kept / 300 < 0.5  # asynchronous promotion keeps about 1/eta, a little more early on


def test_hypervolume():
    assert hypervolume_2d([], ref_energy=1.0) == 0.0
    assert hypervolume_2d([(1.0, 0.0)], ref_energy=2.0) == 2.0
    assert hypervolume_2d([(0.5, 1.0), (1.0, 2.0), (0.4, 1.5)], ref_energy=3.0) == 1.5  # a dominated point adds 0
    assert hypervolume_2d([(0.5, 4.0)], ref_energy=3.0) == 0.0  # beyond the reference point


@pytest.mark.parametrize("name", ["nsga2", "tpe", "gp", "random"])
def test_every_sampler_drives_a_space(name):
    import optuna

    from snnas.search import load_space, make_sampler

    space = load_space("edge_small")
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(name, 0))
    ids = set()
    for i in range(12):
        trial = study.ask()
        cfg = space.suggest(trial)
        ids.add(cfg.id)
        study.tell(trial, [0.1 * (i % 5), float(cfg.T * cfg.embed_dim)])
    assert len(ids) > 3  # it explores


def test_unknown_sampler():
    from snnas.errors import SnnasError
    from snnas.search import make_sampler

    with pytest.raises(SnnasError, match="choose one of tpe, nsga2, gp, random"):
        make_sampler("cmaes", 0)


def test_chance_threshold_is_three_binomial_sigmas_above_chance():
    import math

    from snnas.search import chance_threshold

    assert chance_threshold(10, 500) == pytest.approx(0.1 + 3 * math.sqrt(0.1 * 0.9 / 500))  # 0.1402
    assert chance_threshold(2, 100) == pytest.approx(0.65)
    assert chance_threshold(10, 50_000) < chance_threshold(10, 500)  # more images, a tighter test
    with pytest.raises(ValueError):
        chance_threshold(10, 0)


def test_near_best_is_the_cheapest_point_statistically_tied_with_the_best():
    from snnas.search import near_best_index

    front = [(0.648, 9.0), (0.63, 4.0), (0.61, 2.0), (0.50, 0.5), (0.28, 0.1)]
    # 500 images: 2 * sqrt(0.648 * 0.352 / 500) = 0.0427 -> down to 0.6053: 0.61 at 2.0 is the cheapest such
    assert near_best_index(front, n_val=500) == 2
    assert near_best_index(front, n_val=5000) == 0  # 0.0135: only the best itself
    assert near_best_index(front, n_val=None) == 0  # unknown size: within 0.01 only
    assert near_best_index(list(reversed(front)), n_val=500) == 2  # order does not matter
    assert near_best_index([(0.9, 1.0), (0.9, 0.5)], n_val=500) == 1  # an equally accurate, cheaper point
    assert near_best_index([(1.0, 3.0), (0.99, 1.0)], n_val=500) == 0  # a perfect best: zero standard error
    assert near_best_index([], n_val=500) is None
    # it never lands far from the best, wherever the front's cheap end lies (the knee does)
    from snnas.search import knee_index

    front = [(0.62, 3.0), (0.60, 1.0), (0.55, 0.5), (0.40, 0.2), (0.135, 0.02), (0.11, 0.001)]
    assert front[knee_index(front)][0] == 0.135 and front[near_best_index(front, n_val=500)][0] == 0.60


def test_front_of_screens_before_taking_the_front():
    """A trial dominated only by a near-chance one is on the front once that one is off it."""
    import optuna

    from snnas.search import front_of

    study = optuna.create_study(directions=["maximize", "minimize"])
    attrs = {"n_val": 500, "config": {"num_classes": 10}}
    for acc, energy, constraints in [(0.8, 5.0, None), (0.13, 0.1, None), (0.125, 0.2, None), (0.9, 6.0, None),
                                     (0.95, 9.0, {"max_energy_uj": 1.0}), (0.5, 0.3, None), (0.5, 0.3, None)]:
        study.add_trial(optuna.trial.create_trial(values=[acc, energy], user_attrs=attrs, constraints=constraints))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    study.add_trial(optuna.trial.create_trial(values=[0.05, 0.15]))  # no n_val, no config: untested, kept;
    # dominated only by trial 1 (0.13 at 0.1), which is below chance
    f = front_of(study.get_trials())
    assert f.numbers == [3, 0, 5, 6, 8]  # most accurate first; equal points both kept
    assert set(f.excluded) == {1, 2, 4} and f.below_chance == [1, 2] and f.untested == [8]
    assert f.excluded[4] == "infeasible: max_energy_uj exceeded by 1"
    assert "not clearly above chance" in f.excluded[1]
