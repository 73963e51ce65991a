"""``snnas export`` on a real edge_tiny study: picks, the file format, and one-line errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.config import ArchConfig
from snnas.errors import SnnasError
from snnas.export import EXPORT_FORMAT, default_recipe, export_trial, load_export, parse_pick
from snnas.search import load_space
from snnas.search._record import ENERGY_REPORT_KEY
from tests.export import STUDY, searched, snnas

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def cwd(tmp_path_factory) -> Path:
    return searched(tmp_path_factory)


@pytest.fixture(scope="module")
def study(cwd) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{cwd / 'studies' / (STUDY + '.db')}")


@pytest.fixture(scope="module")
def front(study) -> list[optuna.trial.FrozenTrial]:
    f = [t for t in study.best_trials if t.state == TrialState.COMPLETE]
    assert f, "a 5-trial edge_tiny search completes at least its first trial"
    return f


def export(cwd: Path, tmp_path: Path, **kw) -> dict:
    path = export_trial(STUDY, studies_dir=cwd / "studies", out=tmp_path / "x.json", **kw)
    return json.loads(path.read_text())


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


def knee(points: list[tuple[float, float]]) -> int:
    """The front's knee, written out independently of snnas.search._pruner: the point farthest from the chord
    between the most and the least accurate point, accuracy scaled to [0, 1], energy on a scaled log axis."""
    if len(points) <= 2:
        return max(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    acc = [p[0] for p in points]
    le = [math.log(p[1]) for p in points]

    def scale(v: list[float]) -> list[float]:
        lo, hi = min(v), max(v)
        return [(x - lo) / ((hi - lo) or 1.0) for x in v]

    xs, ys = scale(acc), scale(le)
    a = max(range(len(points)), key=lambda i: (acc[i], -le[i]))
    b = min(range(len(points)), key=lambda i: (acc[i], -le[i]))
    dist = [abs((ys[b] - ys[a]) * (xs[i] - xs[a]) - (xs[b] - xs[a]) * (ys[i] - ys[a])) for i in range(len(points))]
    return max(range(len(points)), key=lambda i: (dist[i], acc[i], -le[i]))


def near_best(front: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial:
    """The default pick, written out independently of snnas.search._front: the cheapest front trial within two
    binomial standard errors of the best val accuracy on the recorded validation size (else within 0.01)."""
    best = max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
    a, n = best.values[0], best.user_attrs.get("n_val")
    tol = 2 * math.sqrt(a * (1 - a) / n) if n else 0.01
    return min((t for t in front if t.values[0] >= a - tol - 1e-12),
               key=lambda t: (t.values[1], -t.values[0], t.number))


def test_picks_choose_the_right_front_trial(cwd, tmp_path, front):
    by_acc = max(front, key=lambda t: (t.values[0], -t.values[1]))
    by_energy = min(front, key=lambda t: (t.values[1], -t.values[0]))
    ordered = sorted(front, key=lambda t: t.number)
    expected_knee = ordered[knee([tuple(t.values) for t in ordered])]
    assert export(cwd, tmp_path)["provenance"]["trial"] == near_best(front).number  # default pick: near-best
    assert export(cwd, tmp_path, pick="near-best")["provenance"]["trial"] == near_best(front).number
    assert export(cwd, tmp_path, pick="knee")["provenance"]["trial"] == expected_knee.number
    assert export(cwd, tmp_path, pick="max-accuracy")["provenance"]["trial"] == by_acc.number
    assert export(cwd, tmp_path, pick="min-energy")["provenance"]["trial"] == by_energy.number
    # energy<=X: the most accurate front trial within X (inclusive), for X at every front energy
    for t in front:
        within = [u for u in front if u.values[1] <= t.values[1]]
        best = max(within, key=lambda u: (u.values[0], -u.values[1]))
        doc = export(cwd, tmp_path, pick=f"energy<={t.values[1]!r}")
        assert doc["provenance"]["trial"] == best.number
        assert doc["search"]["energy_uj"] <= t.values[1]
    below = by_energy.values[1] * 0.5
    with pytest.raises(SnnasError) as e:
        export(cwd, tmp_path, pick=f"energy<={below}")
    msg = one_line(e)
    assert f"trial {by_energy.number}" in msg and f"{by_energy.values[1]:.4g}" in msg


def test_every_complete_trial_exports_and_round_trips(cwd, tmp_path, study):
    done = [t for t in study.get_trials() if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    space = load_space("edge_tiny")
    for t in done:
        path = export_trial(STUDY, trial=t.number, studies_dir=cwd / "studies", out=tmp_path)  # a folder
        assert path == tmp_path / f"{STUDY}-trial{t.number}.json"
        cfg, recipe, doc = load_export(path)
        assert doc["format"] == EXPORT_FORMAT
        assert set(doc) == {"format", "arch_id", "arch", "recipe", "search", "energy_report", "provenance"}
        # the file rebuilds exactly the trial's network
        assert cfg.id == t.user_attrs["arch_id"] == doc["arch_id"]
        assert cfg == ArchConfig.from_dict(t.user_attrs["config"])
        assert cfg == space.config_from_params(t.params)
        # the recipe is the space's proxy settings scaled up, with the trial's seed and the search's data seed
        assert recipe == default_recipe(space.describe(), "fashion-mini", t.user_attrs["seed"], 0)
        assert recipe["epochs"] == max(20, 10 * space.rungs[-1].epochs) == 20
        assert recipe["lr"] == pytest.approx(space.train.lr / 3) and recipe["batch_size"] == space.train.batch_size
        assert recipe["val_fraction"] == space.train.val_fraction == 0.1
        assert recipe["data_seed"] == 0 and recipe["seed"] == t.user_attrs["seed"]
        assert recipe["energy_profile"] == "cmos45" and recipe["calibration_images"] == 16
        s = doc["search"]
        assert (s["val_accuracy"], s["energy_uj"], s["params"]) == (t.values[0], t.values[1], t.user_attrs["params"])
        assert [r["rung"] for r in s["rungs"]] == [0, 1] and s["rungs"][1] == t.user_attrs["rung1"]
        assert doc["energy_report"] == t.system_attrs[ENERGY_REPORT_KEY]
        p = doc["provenance"]
        assert (p["study"], p["trial"], p["seed"], p["data_seed"], p["space"]) == (STUDY, t.number,
                                                                                  t.user_attrs["seed"], 0, "edge_tiny")
        assert p["command"] == t.user_attrs["command"] and p["versions"] == t.user_attrs["versions"]
        assert p["storage"].endswith(f"{STUDY}.db") and p["exported_at"]


def test_cli_export_writes_the_default_path(cwd, tmp_path, front):
    shutil.copytree(cwd / "studies", tmp_path / "studies")
    r = snnas(tmp_path, "export", STUDY, "--pick", "max-accuracy")
    assert r.returncode == 0, r.stderr
    best = max(front, key=lambda t: (t.values[0], -t.values[1]))
    path = tmp_path / "exports" / f"{STUDY}-trial{best.number}.json"
    assert path.is_file() and str(path.relative_to(tmp_path)) in r.stdout
    assert load_export(path)[0].id == best.user_attrs["arch_id"]
    # a user mistake is one line on stderr and exit code 2, never a traceback
    r = snnas(tmp_path, "export", STUDY, "--pick", "best")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "knee, max-accuracy, min-energy, energy<=X" in r.stderr and "accuracy>=X" in r.stderr


@pytest.mark.parametrize("pick", ["best", "energy<=", "energy<=abc", "energy<=-1", "energy>=0.2", "knee2"])
def test_bad_picks_are_one_line_errors(pick):
    with pytest.raises(SnnasError) as e:
        parse_pick(pick)
    assert "knee, max-accuracy, min-energy, energy<=X" in one_line(e) and "accuracy>=X" in one_line(e)


def test_unexportable_trials_and_studies(cwd, tmp_path, study):
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "edge_tiny with eta 2 prunes some of 5 trials"
    with pytest.raises(SnnasError) as e:
        export(cwd, tmp_path, trial=pruned[0].number)
    assert "was pruned" in one_line(e) and pruned[0].user_attrs["prune_reason"] in str(e.value)
    with pytest.raises(SnnasError) as e:
        export(cwd, tmp_path, trial=99)
    assert "no trial 99" in one_line(e)
    with pytest.raises(SnnasError) as e:
        export(cwd, tmp_path, trial=0, pick="knee")
    assert "not both" in one_line(e)
    with pytest.raises(SnnasError) as e:
        export_trial("no-such-study", studies_dir=cwd / "studies")
    assert "no study database" in one_line(e) and STUDY in str(e.value)  # names the studies that exist
    with pytest.raises(SnnasError) as e:
        export_trial("other", storage=f"sqlite:///{cwd / 'studies' / (STUDY + '.db')}")
    assert "no study 'other'" in one_line(e)
    assert not (tmp_path / "x.json").exists()  # nothing written on failure


def test_corrupt_export_files_are_one_line_errors(cwd, tmp_path, front):
    good = json.loads(export_trial(STUDY, trial=front[0].number, studies_dir=cwd / "studies",
                                   out=tmp_path / "good.json").read_text())

    def check(content, *needles: str) -> None:
        p = tmp_path / "bad.json"
        p.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(SnnasError) as e:
            load_export(p)
        msg = one_line(e)
        for n in needles:
            assert n in msg, msg

    def edited(path: str, value) -> dict:  # noqa: ANN001
        doc = json.loads(json.dumps(good))
        *keys, last = path.split(".")
        d = doc
        for k in keys:
            d = d[k]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
        return doc

    with pytest.raises(SnnasError) as e:
        load_export(tmp_path / "missing.json")
    assert "not found" in one_line(e)
    check('{"format": "snnas-export/1", "arch": ', "not valid JSON")
    check([1, 2], "expected a JSON object")
    check(edited("format", "other/9"), "not an snnas export")
    check(edited("recipe", KeyError), "missing key(s) recipe")
    check(edited("arch.embed_dim", 0), "ArchConfig.embed_dim")
    check(edited("arch.colour", "red"), "unknown field(s) colour")
    check(edited("arch.depth", 2), "arch_id", "edited")  # a changed network is not the searched one
    check(edited("recipe.optimizer", "sgd"), "recipe: unknown key(s) optimizer")
    check(edited("recipe.epochs", KeyError), "missing key(s) epochs")
    check(edited("recipe.epochs", "10"), "recipe.epochs", "integer")
    check(edited("recipe.epochs", 0), "recipe.epochs")
    check(edited("recipe.augment", "yes"), "recipe.augment")
    check(edited("recipe.lr", -1), "recipe.lr", "positive")
    check(edited("recipe.schedule", "step"), "recipe.schedule", "cosine")
    check(edited("recipe.val_fraction", 1.5), "recipe.val_fraction")
    # edits within the schema are accepted: the recipe is meant to be changed by hand
    ok = edited("recipe.epochs", 3)
    ok["recipe"]["lr"] = 1  # an integer where a float is expected
    (tmp_path / "ok.json").write_text(json.dumps(ok))
    _, recipe, _ = load_export(tmp_path / "ok.json")
    assert recipe["epochs"] == 3 and recipe["lr"] == 1.0 and isinstance(recipe["lr"], float)


def test_a_study_written_before_the_trial_record_still_exports_and_reports(tmp_path, study, front):
    """Studies made before ``data_seed`` had its own attribute: the data seed comes from the recorded command,
    and rung attributes sort numerically (rung10 after rung2) in export and report alike."""
    from snnas.report import build_report
    from snnas.report._data import gather
    from snnas.search import TrialRecord, space_definition

    old = optuna.create_study(study_name="old", storage=f"sqlite:///{tmp_path / 'old.db'}",
                              directions=["maximize", "minimize"])
    for key, value in {**study.user_attrs, "space_definition": space_definition(study)}.items():  # as then
        old.set_user_attr(key, value)
    src = front[0]
    attrs = {k: v for k, v in src.user_attrs.items() if k != "data_seed"}
    attrs["command"] = attrs["command"].replace("--data-seed 0", "--data-seed 4")
    rung = attrs["rung0"]
    attrs.update({f"rung{k}": {**rung, "rung": k} for k in (2, 10)})  # an 11-rung study's attributes, in part
    old.add_trial(optuna.trial.create_trial(params=src.params, distributions=src.distributions, values=src.values,
                                            user_attrs=attrs, system_attrs=src.system_attrs))
    record = TrialRecord.of(old.trials[0])
    assert record.data_seed == 4 and [r["rung"] for r in record.rungs] == [0, 1, 2, 10]
    doc = json.loads(export_trial("old", storage=f"sqlite:///{tmp_path / 'old.db'}", out=tmp_path / "o.json")
                     .read_text())
    assert doc["recipe"]["data_seed"] == 4 and doc["provenance"]["data_seed"] == 4
    assert [r["rung"] for r in doc["search"]["rungs"]] == [0, 1, 2, 10]
    detail = gather(old)["details"]["0"]
    assert [r["rung"] for r in detail["rungs"]] == [0, 1, 2, 10]
    assert build_report("old", f"sqlite:///{tmp_path / 'old.db'}", tmp_path / "report", png=False).is_file()
