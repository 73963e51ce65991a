"""The stale-trial callback on a real SQLite storage: what a dead process's trial turns into."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from snnas.search._study import retry_stale

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_a_dead_trial_is_requeued_with_its_params_and_seed_unless_it_had_none(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize", "minimize"])
    sampled = study.ask()
    sampled.suggest_categorical("T", [1, 2])
    sampled.set_user_attr("seed", 1234)
    unsampled = study.ask()  # its process died between claiming the slot and sampling the architecture
    for t in (sampled, unsampled):
        study.tell(t, state=TrialState.FAIL)
        retry_stale(study, study.trials[t.number])
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1  # nothing to re-run for the unsampled one: its slot is sampled afresh
    assert waiting[0].system_attrs["fixed_params"] == sampled.params  # asked next, with these values
    assert waiting[0].user_attrs == {"retry_of": sampled.number, "seed": 1234}


def test_a_rerun_killed_before_sampling_is_rerun_with_the_queued_params(tmp_path):
    """Found by the kill-anywhere suite: the original's parameters were lost when its re-run died early."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize", "minimize"])
    first = study.ask()
    first.suggest_categorical("T", [1, 2])
    first.set_user_attr("seed", 77)
    study.tell(first, state=TrialState.FAIL)
    retry_stale(study, study.trials[0])
    rerun = study.ask()  # takes the queued parameters, then its process dies before it samples them
    assert rerun.params == {} and rerun.user_attrs == {"retry_of": 0, "seed": 77}
    study.tell(rerun, state=TrialState.FAIL)
    retry_stale(study, study.trials[rerun.number])
    retry_stale(study, study.trials[rerun.number])  # idempotent: one re-run per interrupted trial
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.system_attrs["fixed_params"] == {"T": first.params["T"]}
    assert waiting.user_attrs == {"retry_of": rerun.number, "seed": 77}


def test_claim_repairs_lost_reruns_and_frees_slots_of_trials_that_never_beat(tmp_path, monkeypatch):
    from snnas.search import _storage
    from snnas.search._locks import study_lock
    from snnas.search._storage import open_storage
    from snnas.search._study import claim

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", create=True)
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    lock = study_lock(f"sqlite:///{tmp_path / 's.db'}", tmp_path, "s")
    # 1. failed by the stale check, then the process died before queueing the re-run: the claim queues it
    lost = study.ask()
    lost.suggest_categorical("T", [1, 2])
    study.tell(lost, state=TrialState.FAIL)
    # 2. asked, then the process died before its first heartbeat: it never goes stale in Optuna's own check
    silent = study.ask()
    monkeypatch.setattr(_storage, "GRACE_S", -1)  # its start is already "long ago"
    got = claim(study, budget=5, lock=lock)
    assert study.trials[got.number].system_attrs["fixed_params"] == lost.params
    assert got.user_attrs["retry_of"] == lost.number
    assert study.trials[silent.number].state == TrialState.FAIL  # its slot is free again
