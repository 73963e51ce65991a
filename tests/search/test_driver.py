"""The stale-trial callback on a real SQLite storage: what a dead process's trial turns into."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from snnas.search._driver import retry_stale

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
