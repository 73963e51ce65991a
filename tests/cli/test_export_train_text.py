"""`export --trial` of a trial off the front says so; `--pick accuracy>=X` picks the cheapest that reaches X;
`snnas train` sent to a log ends with its `done:` line, with no progress bar after it (or anywhere)."""

from __future__ import annotations

import json

import pytest

from tests.cli._proc import run
from tests.export import made_study


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    made_study(root / "s.db", [(0.6, 1.0), (0.5, 2.0), (0.4, 0.5)], name="s")  # trial 1 is dominated by 0
    return root, f"sqlite:///{root / 's.db'}"


def _export(made, *args):
    root, url = made
    r = run(["export", "s", "--storage", url, *args], root)
    return r, (json.loads((root / "e.json").read_text()) if r.returncode == 0 else None)


def test_export_of_a_dominated_trial_warns(made):
    r, doc = _export(made, "--trial", "1", "--out", "e.json")
    assert r.returncode == 0, r.stderr
    assert "note: trial 1 is not on the Pareto front: dominated by trial 0" in r.stderr
    assert doc["provenance"]["off_front"].startswith("dominated by trial 0")
    r, doc = _export(made, "--trial", "0", "--out", "e.json")
    assert r.returncode == 0 and "note:" not in r.stderr and doc["provenance"]["off_front"] is None


@pytest.mark.parametrize(("pick", "trial"), [("accuracy>=0.45", 0), ("accuracy>=0.3", 2), ("accuracy >= 0.6", 0)])
def test_pick_cheapest_reaching_an_accuracy(made, pick, trial):
    r, doc = _export(made, "--pick", pick, "--out", "e.json")
    assert r.returncode == 0, r.stderr
    assert doc["provenance"]["trial"] == trial


@pytest.mark.parametrize("pick", ["accuracy>=0.9", "accuracy>=1.5", "accuracy>=x"])
def test_pick_accuracy_out_of_reach_is_one_line(made, pick):
    r, _ = _export(made, "--pick", pick, "--out", "e.json")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    if pick == "accuracy>=0.9":
        assert "the most accurate is trial 0 at 0.6000" in lines[0]


def test_train_log_ends_with_done(made):
    root, _ = made
    r, _ = _export(made, "--trial", "0", "--out", "e.json")
    r = run(["train", "e.json", "--epochs", "1", "--out-dir", "t"], root)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[-1].startswith("done: "), lines[-3:]
    assert not any(ch in r.stdout for ch in "━╸"), "a progress bar in a log"
