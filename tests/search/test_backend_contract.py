"""The contract both backends keep: the same small study through the Optuna and the Ray backend gives the same
states, attributes, parameters, seeds, values and budget (in the spirit of Optuna's ``StorageTestCase``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.search import TrialRecord, counts_toward_budget

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
BUDGET, SEED = 5, 11
# One trial at a time on one thread each: the order, the rung populations and the arithmetic are the same on
# both backends, so everything but where a trial ran must be identical.
BACKENDS = {"optuna": ["--threads", "1"], "ray": ["--backend", "ray", "--max-concurrent", "1"]}
PLACE = {"pid", "host", "rss_mb", "versions"}


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, list[optuna.trial.FrozenTrial]]:
    out = {}
    for name, extra in BACKENDS.items():
        cwd = tmp_path_factory.mktemp(name)
        r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", str(BUDGET),
                            "--seed", str(SEED), "--quiet", "--study", name, *extra], cwd=cwd, capture_output=True,
                           text=True, timeout=900, env={**__import__("os").environ, "RAY_AUTH_MODE": "disabled"})
        assert r.returncode == 0, r.stderr[-3000:]
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{Path(cwd) / 'studies' / (name + '.db')}")
        out[name] = study.get_trials()
    return out


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_each_backend_keeps_the_trial_contract(studies, backend):
    trials = studies[backend]
    assert sum(counts_toward_budget(t) for t in trials) == BUDGET
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    by_number = {t.number: t for t in trials}
    for t in trials:
        r = TrialRecord.of(t)
        assert r.seed is not None and r.data_seed == SEED and r.arch_id and r.config and r.n_params
        if r.duplicate_of is not None:  # took the stored result of a trained trial of the same architecture
            known = TrialRecord.of(by_number[r.duplicate_of])
            assert known.arch_id == r.arch_id and known.duplicate_of is None and known.rungs == r.rungs
            assert r.state == known.state and r.values == known.values and not r.counts_toward_budget
            continue
        assert r.attrs["backend"] == backend and r.attrs["device"] == "cpu"
        assert [x["rung"] for x in r.rungs] == list(range(len(r.rungs)))
        if r.state == TrialState.COMPLETE:
            assert len(r.rungs) == 2 and r.accuracy == pytest.approx(r.rungs[-1]["val_accuracy"])
            assert r.energy_report["total_uj"] == pytest.approx(r.energy_uj)
        else:
            assert r.state == TrialState.PRUNED and r.prune_reason.startswith("rung 0") and len(r.rungs) == 1


def test_both_backends_record_the_same_study(studies):
    a, b = studies["optuna"], studies["ray"]
    assert [t.state for t in a] == [t.state for t in b]
    assert [t.params for t in a] == [t.params for t in b]
    assert [t.values for t in a] == [t.values for t in b]
    for x, y in zip(a, b, strict=True):
        never_ran = PLACE | {"device", "neurons"}  # a Ray duplicate never reached a worker
        assert set(x.user_attrs) - never_ran == set(y.user_attrs) - never_ran, x.number
        for key in set(x.user_attrs) & set(y.user_attrs) - PLACE - {"backend", "energy_report"}:
            vx, vy = x.user_attrs[key], y.user_attrs[key]
            if key.startswith("rung"):
                vx, vy = ({k: v for k, v in d.items() if k != "seconds"} for d in (vx, vy))
            assert vx == vy, (x.number, key)
