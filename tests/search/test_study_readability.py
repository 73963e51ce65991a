"""A study stays readable by the tools users already have (``optuna trials``, ``optuna studies``,
optuna-dashboard): objectives named, no attribute too long for a table row, the large records kept whole where
snnas reads them, and studies made before (space definition and energy report as user attributes) still read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.export._export import export_document
from snnas.report._data import gather
from snnas.search import (
    SearchOptions,
    TrialLife,
    TrialRecord,
    load_space,
    open_study,
    space_definition,
)
from snnas.search._record import ENERGY_REPORT_KEY, Attr
from snnas.search._study import OBJECTIVES, SPACE_DEFINITION

LONGEST_VALUE = 1_000  # characters: the longest attribute value a readable table row may hold


def _cli(*args: str) -> str:
    """The output of the ``optuna`` command line."""
    r = subprocess.run([str(Path(sys.executable).with_name("optuna")), *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[str, optuna.Study]:  # noqa: ANN001
    """(storage URL, study) of a real 3-trial edge_tiny search."""
    root = tmp_path_factory.mktemp("readable")
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "3", "--quiet",
                        "--no-prune", "--study", "s"], cwd=root, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    url = f"sqlite:///{root / 'studies' / 's.db'}"
    return url, optuna.load_study(study_name="s", storage=url)


def _new_study(tmp_path: Path, name: str = "s") -> tuple[optuna.Study, SearchOptions]:
    space = load_space("edge_tiny")
    opts = SearchOptions(space="edge_tiny", study=name, storage=f"sqlite:///{tmp_path / 's.db'}").resolved(space)
    return open_study(opts, space), opts


def test_a_new_study_names_its_objectives(tmp_path):
    study, _ = _new_study(tmp_path)
    assert study.metric_names == OBJECTIVES == ["val_accuracy", "energy_uj"]
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]


def test_a_study_made_before_gets_its_objective_names_and_keeps_its_space_definition(tmp_path):
    space = load_space("edge_tiny")
    old = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}",
                              directions=["maximize", "minimize"])
    for key, value in (("space", "edge_tiny"), ("dataset", "fashion-mini"), ("objectives", OBJECTIVES),
                       ("profile", "cmos45"), ("space_definition", {**space.describe(), "description": "as then"})):
        old.set_user_attr(key, value)
    study, _ = _new_study(tmp_path)
    assert study.metric_names == OBJECTIVES
    assert space_definition(study)["description"] == "as then"  # what it was made with, not today's file
    assert SPACE_DEFINITION not in study._storage.get_study_system_attrs(study._study_id)


def test_a_real_search_prints_short_rows_in_optunas_tables(searched):
    url, study = searched
    for t in study.trials:
        for key, value in t.user_attrs.items():
            assert len(json.dumps(value)) <= LONGEST_VALUE, (t.number, key)
    for key, value in study.user_attrs.items():
        assert len(json.dumps(value)) <= LONGEST_VALUE, key
    for out in (_cli("trials", "--study-name", "s", "--storage", url), _cli("studies", "--storage", url)):
        assert max(len(line) for line in out.splitlines()) <= 2_000
    # kept whole, where snnas reads them
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete
    for t in complete:
        report = TrialRecord.of(t).energy_report
        assert report == t.system_attrs[ENERGY_REPORT_KEY]
        assert report["total_uj"] == pytest.approx(t.values[1]) and report["layers"] and report["provenance"]
    assert space_definition(study) == load_space("edge_tiny").describe()


def _get(app, path: str) -> tuple[str, bytes]:
    """(status, body) of a GET on a WSGI app, as a browser's request would reach it."""
    from wsgiref.util import setup_testing_defaults

    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc=None: status.append(s)))
    return status[0], body


def test_every_trained_trial_shows_its_energy_report_in_optuna_dashboard(searched):
    import optuna_dashboard
    from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

    url, study = searched
    folder = Path(url.removeprefix("sqlite:///")).parent / "s.artifacts"  # beside the study's file
    store = FileSystemArtifactStore(folder)
    app = optuna_dashboard.wsgi(url, artifact_store=store)  # as `snnas dashboard s` serves it
    trained = [t for t in study.trials if t.state == TrialState.COMPLETE and Attr.DUPLICATE_OF not in t.user_attrs]
    assert trained
    for t in trained:
        metas = get_all_artifact_meta(t, storage=study._storage)
        assert [(m.filename, m.mimetype) for m in metas] == [("energy_report.json", "application/json")]
        target = folder.parent / f"got-{t.number}.json"
        download_artifact(artifact_store=store, artifact_id=metas[0].artifact_id, file_path=str(target))
        assert json.loads(target.read_text()) == t.system_attrs[ENERGY_REPORT_KEY]
        status, body = _get(app, f"/artifacts/{study._study_id}/{t._trial_id}/{metas[0].artifact_id}")
        assert status.startswith("200") and json.loads(body) == t.system_attrs[ENERGY_REPORT_KEY]
        status, body = _get(app, f"/api/studies/{study._study_id}")
        shown = {a["artifact_id"] for tr in json.loads(body)["trials"] if tr["number"] == t.number
                 for a in tr["artifacts"]}
        assert status.startswith("200") and shown == {metas[0].artifact_id}


def _old_format_copy(study: optuna.Study, url: str) -> optuna.Study:
    """``study``, under its name in another storage, as snnas wrote it before: the space definition and each
    energy report as user attributes."""
    old = optuna.create_study(study_name=study.study_name, storage=url, directions=["maximize", "minimize"])
    for key, value in {**study.user_attrs, "space_definition": space_definition(study)}.items():
        old.set_user_attr(key, value)
    for t in study.trials:
        attrs = dict(t.user_attrs)
        if ENERGY_REPORT_KEY in t.system_attrs:
            attrs[Attr.ENERGY_REPORT] = t.system_attrs[ENERGY_REPORT_KEY]
        system = {k: v for k, v in t.system_attrs.items() if k != ENERGY_REPORT_KEY}
        old.add_trial(optuna.trial.create_trial(
            state=t.state, values=t.values, params=t.params, distributions=t.distributions, user_attrs=attrs,
            system_attrs=system, intermediate_values=t.intermediate_values))
    return old


def _timeless(doc: dict) -> dict:
    """An export document or report data without the times, which differ between a study and its copy."""
    if isinstance(doc, dict):
        return {k: _timeless(v) for k, v in doc.items() if k not in ("seconds", "exported_at", "generated")}
    if isinstance(doc, list):
        return [_timeless(v) for v in doc]
    return doc


def test_a_study_made_before_reads_the_same_in_report_and_export(searched, tmp_path):
    url, study = searched
    old = _old_format_copy(study, f"sqlite:///{tmp_path / 'old.db'}")
    assert "space_definition" in old.user_attrs and all(
        Attr.ENERGY_REPORT in t.user_attrs for t in old.trials if t.state == TrialState.COMPLETE)
    assert _timeless(gather(old)) == _timeless(gather(study))
    for t, o in zip(study.trials, old.trials, strict=True):
        assert TrialRecord.of(o).energy_report == TrialRecord.of(t).energy_report
        if t.state == TrialState.COMPLETE:
            assert _timeless(export_document(old, o, "u")) == _timeless(export_document(study, t, "u"))


def test_a_duplicate_of_a_trial_made_before_keeps_the_energy_report(tmp_path):
    """The known trial keeps its report as a user attribute; the duplicate stores it where new trials do."""
    space = load_space("edge_tiny").replace(max_params=None, max_energy_uj=None)  # every architecture trains
    opts = SearchOptions(space="edge_tiny", storage=f"sqlite:///{tmp_path / 's.db'}").resolved(space)
    study = optuna.create_study(storage=opts.storage, directions=["maximize", "minimize"])
    known = TrialLife(study, study.ask(), space, opts)
    cfg = known.begin()
    known.rung(0, {"val_accuracy": 0.3, "energy_uj": 1.0})
    known.trial.set_user_attr(Attr.ENERGY_REPORT, {"total_uj": 1.0})  # as older snnas wrote it
    study.tell(known.trial, [0.3, 1.0])
    study.enqueue_trial(study.trials[0].params)
    again = TrialLife(study, study.ask(), space, opts)
    assert again.begin() is None  # took the known result
    dup = study.trials[1]
    assert dup.user_attrs[Attr.DUPLICATE_OF] == 0 and dup.user_attrs[Attr.ARCH_ID] == cfg.id
    assert TrialRecord.of(dup).energy_report == dup.system_attrs[ENERGY_REPORT_KEY] == {"total_uj": 1.0}


def test_an_artifact_that_cannot_be_written_costs_the_trial_nothing(tmp_path):
    """The artifact is a view: a failure writing it (here an injected error at the ``artifact`` site, the first
    one) leaves that trial COMPLETE with its report in the storage, and the next trials get theirs."""
    import os

    from optuna.artifacts import get_all_artifact_meta

    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"} | {"SNNAS_FAULTS": "artifact@1:raise"}
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "3", "--quiet",
                        "--no-prune", "--study", "a"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    study = optuna.load_study(study_name="a", storage=f"sqlite:///{tmp_path / 'studies' / 'a.db'}")
    trained = [t for t in study.trials if t.state == TrialState.COMPLETE and Attr.DUPLICATE_OF not in t.user_attrs]
    assert len(trained) >= 2 and all(ENERGY_REPORT_KEY in t.system_attrs for t in trained)
    shown = [len(get_all_artifact_meta(t, storage=study._storage)) for t in trained]
    assert shown == [0] + [1] * (len(trained) - 1), shown
