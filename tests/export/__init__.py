"""Tests of ``snnas export`` and ``snnas train``; both files share one real edge_tiny search per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STUDY = "edge_tiny-fashion-mini"


def snnas(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def searched(tmp_path_factory) -> Path:  # noqa: ANN001
    """A folder holding ``studies/edge_tiny-fashion-mini.db`` from a real 5-trial search (seed 0).

    Made once per test session (under the session's base temp folder) and only read afterwards.
    """
    root = tmp_path_factory.getbasetemp() / "train-search"
    done = root / ".done"
    if not done.exists():
        root.mkdir(exist_ok=True)
        r = snnas(root, "search", "--space", "edge_tiny", "--budget", "5", "--quiet", "--seed", "0")
        assert r.returncode == 0, r.stderr[-3000:]
        done.touch()
    return root


def made_study(db: Path, points: list[tuple[float, float]], n_val: int | None = 500, name: str = "made"):  # noqa: ANN201
    """An edge_tiny study on SQLite with one COMPLETE trial per ``(val accuracy, energy)``, each lived through
    :class:`~snnas.search.TrialLife` as a search would (``n_val=None``: a study made before the validation size
    was recorded). Fast: nothing is trained."""
    import optuna

    from snnas.search import SearchOptions, TrialLife, load_space

    space = load_space("edge_tiny")
    opts = SearchOptions(space="edge_tiny", dataset="fashion-mini", seed=0, storage=f"sqlite:///{db}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=opts.storage, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for key, value in (("space", "edge_tiny"), ("dataset", "fashion-mini"), ("profile", "cmos45"),
                       ("space_definition", space.describe())):
        study.set_user_attr(key, value)
    unconstrained = space.replace(max_params=None, max_energy_uj=None)  # every sampled architecture is trained
    for acc, energy in points:
        life = TrialLife(study, study.ask(), unconstrained, opts)
        life.begin({"device": "cpu", "pid": 1, "host": "h", "neurons": "eager"})
        life.complete(acc, energy, {"total_uj": energy}, rss=None, n_val=n_val)
    return study
