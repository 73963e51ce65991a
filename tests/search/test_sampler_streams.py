"""Processes joining one study with the same --seed sample different architectures (each takes its own
sampler stream), while a lone search in a new study stays reproducible. Issue 18, item 2: before, three
processes on one study gave 3 of 6 trials that repeated another's parameters, continuous neuron_tau included."""

from __future__ import annotations

from snnas.search import SearchOptions, load_space, open_study

SPACE = "edge_small"


def _proposals(study, space, n=4):
    out = []
    for _ in range(n):
        t = study.ask()
        space.suggest(t, None)
        out.append(tuple(sorted(t.params.items())))
    return out


def _opts(path, sampler):
    space = load_space(SPACE)
    return space, SearchOptions(space=SPACE, seed=0, sampler=sampler, storage=f"sqlite:///{path}").resolved(space)


def test_processes_on_one_study_do_not_repeat_each_other(tmp_path):
    for sampler in ("tpe", "random", "nsga2"):
        space, opts = _opts(tmp_path / f"{sampler}.db", sampler)
        first = _proposals(open_study(opts, space), space)   # one process
        second = _proposals(open_study(opts, space), space)  # another, same command and --seed, same study
        assert not set(first) & set(second), sampler
        taus = [dict(p)["neuron_tau"] for p in first + second]
        assert len(set(taus)) == len(taus), sampler


def test_a_lone_search_is_reproducible(tmp_path):
    space, a = _opts(tmp_path / "a.db", "tpe")
    _, b = _opts(tmp_path / "b.db", "tpe")
    assert _proposals(open_study(a, space), space) == _proposals(open_study(b, space), space)
    watcher = open_study(a, space, sampling=False)  # the search's watching process takes no stream
    assert watcher.user_attrs["sampler_streams"] == 1
