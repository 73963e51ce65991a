"""Infeasible and failing trials: recorded with their reasons, never on the Pareto front."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from snnas.search import TrialRecord, counts_toward_budget, load_space

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def space_file(tmp_path: Path, extra: str, train: dict[str, str] | None = None) -> Path:
    text = Path(load_space("edge_tiny").source).read_text()
    for key, value in (train or {}).items():
        text = "\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line for line in text.splitlines())
    f = tmp_path / "mine.toml"
    f.write_text(text.replace('name = "edge_tiny"', 'name = "mine"') + "\n" + extra)
    return f


def run_search(tmp_path: Path, space: Path, budget: int) -> optuna.Study:
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", str(space), "--budget", str(budget),
                        "--quiet", "--no-prune", "--study", "s"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'studies' / 's.db'}")


def test_infeasible_trials_never_reach_the_front(tmp_path):
    # width 16 fits in 10,000 parameters, width 32 does not; no trained trial meets the energy cap
    study = run_search(tmp_path, space_file(tmp_path, "[constraints]\nmax_params = 10000\nmax_energy_uj = 1e-9\n"),
                       budget=4)
    trials = study.get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == 4
    for t in trials:
        if t.user_attrs["params"] > 10000:
            assert t.state == TrialState.PRUNED and "max_params" in t.user_attrs["prune_reason"]
            assert "rung0" not in t.user_attrs  # rejected before any training
        else:
            assert t.state == TrialState.COMPLETE and t.values[1] > 1e-9  # feasible in size, not in energy
    assert study.best_trials == []  # every completed trial broke the energy cap
    assert pd.read_csv(tmp_path / "reports" / "s" / "pareto.csv").empty


def test_nan_loss_is_a_failed_trial_with_its_reason(tmp_path):
    study = run_search(tmp_path, space_file(tmp_path, "", train={"lr": "1e12", "warmup_epochs": "0.0"}), budget=2)
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state == TrialState.FAIL for t in trials)
    assert all("non-finite loss" in t.user_attrs["fail_reason"] for t in trials)
    assert sum(counts_toward_budget(t) for t in trials) == 2  # failures on their own count toward the budget


def test_missing_dataset_is_one_line_before_any_trial(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--dataset", "cifar10",
                        "--data-dir", str(tmp_path / "nowhere"), "--budget", "2"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "cifar-10-batches-py" in r.stderr
    assert not (tmp_path / "studies").exists()  # nothing was created


def test_a_rung_may_train_with_fewer_timesteps(tmp_path):
    text = Path(load_space("edge_tiny").source).read_text()
    text = text.replace("rungs = [{ epochs = 1, fraction = 0.1 }", "rungs = [{ epochs = 1, fraction = 0.1, T = 1 }")
    text = text.replace("[knobs.T]\nchoices = [1, 2]", "[knobs.T]\nchoices = [2]")
    f = tmp_path / "mine.toml"
    f.write_text(text.replace('name = "edge_tiny"', 'name = "mine"'))
    study = run_search(tmp_path, f, budget=2)
    for t in study.get_trials():
        assert t.state == TrialState.COMPLETE
        assert t.user_attrs["rung0"]["T"] == 1 and t.user_attrs["rung1"]["T"] == 2
        assert TrialRecord.of(t).energy_report["provenance"]["T"] == 2


def test_rung_timesteps_need_static_images():
    from snnas.errors import SnnasError
    from snnas.search import ProxyTrainer
    from snnas.search.space import Rung

    space = load_space("edge_tiny")
    space = space.replace(rungs=(Rung(1, 0.5, T=1), Rung(2, 1.0)), dataset="dvs128-gesture")
    with pytest.raises(SnnasError, match=r"rungs\[0\]\.T: per-rung timesteps need static images"):
        ProxyTrainer(space)
