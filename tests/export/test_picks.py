"""The front a user is offered, on constructed studies: near-chance trials kept off it, the default pick.

The studies are lived through ``TrialLife`` as a search would (nothing is trained): four real classifiers and
two near-chance trials at the cheap end, where, left on the front, they pull the knee (measured: the default
export of a fresh 200-trial main job was a 28 % classifier on a 10-class task).
"""

from __future__ import annotations

import json
import math
import shutil

import optuna
import pytest

from snnas.errors import SnnasError
from snnas.export import export_trial, select_trial
from snnas.search import front_of, knee_index, pareto_frame
from tests.export import made_study, snnas

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# 10 classes, 500 validation images: clearly above chance means above 0.1 + 3 * sqrt(0.09 / 500) = 0.1402
POINTS = [(0.62, 3.0), (0.60, 1.0), (0.55, 0.5), (0.40, 0.2), (0.135, 0.02), (0.11, 0.001)]
NEAR_CHANCE = {4, 5}
# near-best: best 0.62, 2 standard errors = 2 * sqrt(0.62 * 0.38 / 500) = 0.0434 -> 0.60 qualifies, 0.55 not
NEAR_BEST = 1
REASON = "not clearly above chance (0.1 + 3σ = 0.140 on 500 validation images)"


def test_the_scenario_is_the_measured_one():
    """Left on the front, the near-chance trial is the knee (then the default pick): what this guards against."""
    assert knee_index(POINTS) == 4
    assert 0.1 + 3 * math.sqrt(0.1 * 0.9 / 500) == pytest.approx(0.1402, abs=1e-4)


def test_a_near_chance_trial_is_off_the_front_the_knee_and_the_default_pick(tmp_path):
    study = made_study(tmp_path / "s.db", POINTS)
    for n in NEAR_CHANCE:  # recorded as an Optuna constraint: best_trials and the dashboard agree
        t = study.trials[n]
        assert t.constraints["above_chance"] > 0 and t.user_attrs["n_val"] == 500
        assert t.user_attrs["chance_threshold"] == pytest.approx(0.1402, abs=1e-4)
    assert study.trials[3].constraints["above_chance"] < 0
    assert {t.number for t in study.best_trials} == {0, 1, 2, 3}
    assert list(pareto_frame(study)["trial"]) == [0, 1, 2, 3]
    front = front_of(study.get_trials())
    assert front.numbers == [0, 1, 2, 3] and set(front.below_chance) == NEAR_CHANCE
    assert front.excluded[4] == f"val accuracy 0.135 {REASON}" and front.excluded[5] == f"val accuracy 0.110 {REASON}"
    assert select_trial(study).number == NEAR_BEST  # the default pick
    assert select_trial(study, pick="near-best").number == NEAR_BEST
    assert select_trial(study, pick="knee").number not in NEAR_CHANCE
    assert select_trial(study, pick="min-energy").number == 3  # the cheapest *classifier*
    with pytest.raises(SnnasError, match=r"no trial on the Pareto front .* cheapest is trial 3"):
        select_trial(study, pick="energy<=0.05")
    doc = json.loads(export_trial("made", storage=f"sqlite:///{tmp_path / 's.db'}", out=tmp_path / "x.json")
                     .read_text())
    assert doc["provenance"]["trial"] == NEAR_BEST and doc["search"]["feasible"]
    # an explicitly named near-chance trial still exports, marked infeasible
    doc = json.loads(export_trial("made", storage=f"sqlite:///{tmp_path / 's.db'}", trial=4,
                                  out=tmp_path / "y.json").read_text())
    assert not doc["search"]["feasible"] and doc["search"]["constraints"]["above_chance"] > 0


def test_only_near_chance_trials_is_a_one_line_error_naming_why(tmp_path):
    study = made_study(tmp_path / "s.db", [(0.12, 1.0), (0.10, 0.5)])
    with pytest.raises(SnnasError) as e:
        select_trial(study)
    msg = str(e.value)
    assert "\n" not in msg and "2 not clearly above chance" in msg and REASON in msg


def test_an_old_study_without_the_validation_size_still_exports_and_reports(tmp_path):
    """No ``n_val`` recorded: the chance test cannot be decided, trials are read as before; near-best falls back
    to one percentage point below the best."""
    from snnas.report import build_report
    from tests.report.test_report import page_data

    study = made_study(tmp_path / "old.db", POINTS, n_val=None)
    assert all("n_val" not in t.user_attrs and not t.constraints for t in study.trials)
    assert list(pareto_frame(study)["trial"]) == [0, 1, 2, 3, 4, 5]  # as before
    assert select_trial(study).number == 0  # 0.60 is 0.02 below the best: outside the fallback's 0.01
    assert select_trial(study, pick="knee").number == 4  # the knee, as before, is still available
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert json.loads(export_trial("made", storage=url, out=tmp_path / "x.json").read_text())["provenance"][
        "trial"] == 0
    page = build_report("made", url, tmp_path / "report", png=False)
    data = page_data(page)
    assert data["pick"] == 0 and data["excluded"] == [] and data["untested"] == [0, 1, 2, 3, 4, 5]
    assert "the validation size was not recorded" in data["pick_rule"]
    assert "6 completed trials were not tested against chance" in page.read_text()


def test_an_old_study_that_recorded_the_validation_size_is_tested_on_read(tmp_path):
    """``n_val`` and the config's ``num_classes`` recorded, no ``above_chance`` constraint: the rule is computed."""
    made = made_study(tmp_path / "s.db", POINTS)
    old = optuna.create_study(study_name="old", storage=f"sqlite:///{tmp_path / 'old.db'}",
                              directions=["maximize", "minimize"])
    for key, value in made.user_attrs.items():
        old.set_user_attr(key, value)
    for t in made.trials:
        old.add_trial(optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, values=t.values,
            user_attrs={k: v for k, v in t.user_attrs.items() if k != "chance_threshold"},
            system_attrs={k: v for k, v in t.system_attrs.items() if not k.startswith("constraints")}))
    assert {t.number for t in old.best_trials} == set(range(6))  # Optuna alone sees no constraint
    assert list(pareto_frame(old)["trial"]) == [0, 1, 2, 3]
    assert select_trial(old).number == NEAR_BEST
    assert front_of(old.get_trials()).excluded[4] == f"val accuracy 0.135 {REASON}"


def test_cli_export_default_pick_is_near_best(tmp_path):
    (tmp_path / "studies").mkdir()
    made_study(tmp_path / "studies" / "made.db", POINTS)
    r = snnas(tmp_path, "export", "made")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "exports" / f"made-trial{NEAR_BEST}.json").is_file()
    assert f"trial {NEAR_BEST} " in r.stdout and "val accuracy 0.6000" in r.stdout
    r = snnas(tmp_path, "export", "made", "--pick", "knee", "--out", str(tmp_path / "knee.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "knee.json").read_text())["provenance"]["trial"] not in NEAR_CHANCE
    shutil.rmtree(tmp_path / "exports")
