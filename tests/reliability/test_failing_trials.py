"""Trials that fail on their own: each is recorded FAIL with its reason, the search goes on, the budget stays
exact, and the worker's memory comes back to where it was.

The faults are injected into a real ``snnas search`` process (``SNNAS_FAULTS``, see ``snnas/_faults.py``): a NaN
and an infinite training loss, an exception raised inside the model's forward pass, and an out-of-memory error
from the real allocator (256 MiB held by the forward pass, then a 1 PiB allocation the allocator refuses; the
same code path as CUDA's ``OutOfMemoryError``).
"""

from __future__ import annotations

import os

import optuna
import pytest
from optuna.trial import TrialState

from snnas.train import out_of_memory
from tests.reliability._checks import check_study, snnas, sqlite_ok

STUDY = "edge_tiny-fashion-mini"
BUDGET = 8
FAULTS = "loss@5:nan,loss@12:inf,forward@60:raise,forward@110:oom"


def test_the_allocators_refusal_is_out_of_memory():
    import torch

    with pytest.raises(RuntimeError) as e:
        torch.empty(2**50, dtype=torch.uint8)
    assert out_of_memory(e.value) and out_of_memory(MemoryError()) and not out_of_memory(RuntimeError("shape"))


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_failing_trials_are_recorded_and_the_search_goes_on(tmp_path):
    env = {**os.environ, "SNNAS_FAULTS": FAULTS}
    p = snnas("search", "--space", "edge_tiny", "--budget", str(BUDGET), "--quiet", "--no-prune", "--threads", "2",
              cwd=tmp_path, env=env)
    out, err = p.communicate(timeout=1200)
    assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    db = tmp_path / "studies" / f"{STUDY}.db"
    sqlite_ok(db)
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{db}")
    check_study(study, BUDGET, failed_ok=True)
    trials = [t for t in study.get_trials(deepcopy=False) if "duplicate_of" not in t.user_attrs]  # the trained
    failed = [t for t in trials if t.state == TrialState.FAIL]
    reasons = [t.user_attrs["fail_reason"] for t in failed]
    assert len(failed) == 4, reasons
    assert reasons[0].startswith("non-finite loss (nan) at rung 0"), reasons
    assert reasons[1].startswith("non-finite loss (inf) at rung 0"), reasons
    assert reasons[2].startswith("RuntimeError: injected fault at forward"), reasons
    assert reasons[3].startswith("out of memory on cpu: ") and "can't allocate memory" in reasons[3], reasons
    assert all("\n" not in r for r in reasons)
    for t, r in zip(failed, reasons, strict=True):
        assert f"trial {t.number} FAIL" in out and r in out  # shown to the user as it happens
    # the search went on: the trials after the failures trained to the end
    assert sum(t.state == TrialState.COMPLETE for t in trials) == BUDGET - 4
    assert trials[-1].state == TrialState.COMPLETE
    # memory: every trial records the worker's RSS after its memory was freed; the OOM trial held 256 MiB more
    rss = {t.number: t.user_attrs["rss_mb"] for t in trials}
    oom = failed[3].number
    before = max(v for n, v in rss.items() if n < oom and n not in {f.number for f in failed})
    after = [v for n, v in rss.items() if n >= oom]
    print(f"\nRSS per trial (MB): {rss}; baseline {before}, from the OOM trial on {after}")
    assert max(after) < before + 100, (rss, oom)
