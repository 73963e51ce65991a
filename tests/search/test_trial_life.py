"""One trial life for every backend: begin, rung, gate and each end state, on a real SQLite study."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from snnas.search import Attr, SearchOptions, TrialLife, TrialRecord, counts_toward_budget
from snnas.search._record import ENERGY_REPORT_KEY
from tests.search.conftest import rung_summary

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
WHERE = {"device": "cpu", "pid": 1, "host": "h", "neurons": "eager"}
BEGUN = {Attr.SEED, Attr.DATA_SEED, Attr.ARCH_ID, Attr.CONFIG, Attr.PARAMS, Attr.VERSIONS, Attr.BACKEND, Attr.COMMAND,
         Attr.DEVICE, Attr.PID, Attr.HOST, Attr.NEURONS}


def _life(setup) -> TrialLife:
    study, space, opts = setup
    return TrialLife(study, study.ask(), space, opts)


def test_a_complete_trial_records_everything_a_reader_needs(setup):
    study, space, opts = setup
    life = _life(setup)
    cfg = life.begin(WHERE)
    life.rung(0, rung_summary(0, 0.3, 2.0))
    assert life.gate(0, 0.3, 2.0) is None  # no population yet
    life.rung(1, rung_summary(1, 0.4, 2.5))
    assert life.gate(1, 0.4, 2.5) is None  # the last rung is never gated
    life.complete(0.4, 2.5, {"total_uj": 2.5}, rss=123.0)
    r = TrialRecord.of(study.trials[0])
    assert r.state == TrialState.COMPLETE and r.values == (0.4, 2.5) and r.counts_toward_budget
    assert set(r.attrs) == BEGUN | {"rung0", "rung1", Attr.RSS_MB}
    assert r.energy_report == study.trials[0].system_attrs[ENERGY_REPORT_KEY] == {"total_uj": 2.5}
    assert r.seed == (7 * 1_000_003 + 0) % 2**31 and r.data_seed == 7 and "--data-seed 7" in r.command
    assert r.arch_id == cfg.id and r.config == cfg.to_dict() and [x["rung"] for x in r.rungs] == [0, 1]
    assert space.config_from_params(r.params).id == cfg.id  # the stored parameters rebuild the network


def test_the_gate_prunes_a_dominated_trial_with_its_reason(setup):
    study, space, opts = setup
    for acc in (0.5, 0.6, 0.7, 0.8):  # four others reached rung 0, all better and cheaper
        other = _life(setup)
        other.begin(WHERE)
        other.rung(0, rung_summary(0, acc, 1.0))
    life = _life(setup)
    life.begin(WHERE)
    life.rung(0, rung_summary(0, 0.1, 5.0))
    reason = life.gate(0, 0.1, 5.0)
    assert reason is not None and reason.startswith("rung 0: ") and life.verdict == reason
    life.prune(rss=10.0)
    r = TrialRecord.of(study.trials[life.number])
    assert r.state == TrialState.PRUNED and r.prune_reason == reason and r.counts_toward_budget
    assert set(r.attrs) == BEGUN | {"rung0", Attr.PRUNE_REASON, Attr.RSS_MB}
    no_prune = TrialLife(study, study.ask(), space, SearchOptions(**{**opts.__dict__, "prune": False}))
    no_prune.begin(WHERE)
    assert no_prune.gate(0, 0.0, 9.0) is None  # --no-prune: every trial trains through every rung


def test_an_infeasible_trial_is_pruned_untrained(setup):
    study, space, opts = setup
    life = TrialLife(study, study.ask(), space.replace(max_params=10), opts)
    assert life.begin(WHERE) is None and life.finished
    r = TrialRecord.of(study.trials[0])
    assert r.state == TrialState.PRUNED and "max_params 10: infeasible, not trained" in r.prune_reason
    assert not r.rungs and counts_toward_budget(study.trials[0])


def test_a_failed_trial_counts_and_an_interrupted_one_is_rerun_alike(setup):
    study, *_ = setup
    failed = _life(setup)
    failed.begin(WHERE)
    failed.fail("non-finite loss (nan) at rung 0 epoch 0 step 3", rss=None)
    stopped = _life(setup)
    stopped.begin(WHERE)
    stopped.rung(0, rung_summary(0, 0.3, 1.0))
    stopped.interrupt()
    f, s = (TrialRecord.of(t) for t in study.get_trials()[:2])
    assert f.state == TrialState.FAIL and f.counts_toward_budget and f.reason.startswith("non-finite loss")
    assert set(f.attrs) == BEGUN | {Attr.FAIL_REASON, Attr.RSS_MB}
    assert s.interrupted and not s.counts_toward_budget
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.system_attrs["fixed_params"] == s.params
    assert waiting.user_attrs == {Attr.RETRY_OF: s.number, Attr.SEED: s.seed}


def test_complete_with_the_validation_size_records_the_chance_test(setup):
    """``n_val`` adds the ``above_chance`` constraint (threshold - accuracy) and its attributes; Optuna's own
    front then leaves a near-chance trial out, as the report and export do."""
    study, *_ = setup
    for acc, energy in ((0.6, 2.0), (0.13, 0.5)):  # 10 classes, 500 images: threshold 0.1402
        life = _life(setup)
        life.begin(WHERE)
        life.rung(0, rung_summary(0, acc, energy))
        life.rung(1, rung_summary(1, acc, energy))
        life.complete(acc, energy, {"total_uj": energy}, rss=None, n_val=500)
    good, poor = study.trials
    assert set(good.user_attrs) == BEGUN | {"rung0", "rung1", Attr.RSS_MB, Attr.N_VAL, Attr.CHANCE_THRESHOLD}
    assert good.user_attrs[Attr.N_VAL] == 500
    assert good.user_attrs[Attr.CHANCE_THRESHOLD] == pytest.approx(0.14025, abs=1e-5)
    assert good.constraints["above_chance"] == pytest.approx(0.14025 - 0.6, abs=1e-5)
    assert poor.constraints["above_chance"] == pytest.approx(0.14025 - 0.13, abs=1e-5) and poor.state.name == "COMPLETE"
    assert [t.number for t in study.best_trials] == [good.number]
    r = TrialRecord.of(poor)
    assert (r.n_val, r.num_classes, round(r.chance_threshold, 4)) == (500, 10, 0.1402)
