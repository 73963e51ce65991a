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

    with pytest.raises(SnnasError, match="choose one of nsga2, tpe, gp, random"):
        make_sampler("cmaes", 0)
