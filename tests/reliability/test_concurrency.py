"""Four worker processes on one study, on the default SQLite storage and on the journal file storage
recommended for several processes or machines sharing a file system: exactly the budget, no lock error
reaches the user, no damaged file.
"""

from __future__ import annotations

import json

import optuna
import pytest

from snnas.search._storage import open_storage
from tests.reliability._checks import check_report, check_study, snnas, sqlite_ok

BUDGET = 10
STUDY = "edge_tiny-fashion-mini"


def _finish(procs) -> list[str]:  # noqa: ANN001
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=1500)
        assert p.returncode == 0, err[-3000:]
        for bad in ("Traceback", "locked", "OperationalError", "Warning"):
            assert bad not in err and bad not in out, (bad, err[-3000:])
        outs.append(out)
    return outs


@pytest.mark.slow  # four real processes; run by .ci/run (pytest -m slow)
def test_four_search_processes_share_the_default_sqlite_study(tmp_path):
    """Four separate ``snnas search`` commands (four drivers, four reports written at the end) on one study."""
    args = ("search", "--space", "edge_tiny", "--budget", str(BUDGET), "--quiet", "--threads", "1")
    outs = _finish([snnas(*args, cwd=tmp_path) for _ in range(4)])
    db = tmp_path / "studies" / f"{STUDY}.db"
    sqlite_ok(db)
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{db}")
    counts = check_study(study, BUDGET)
    assert counts["interrupted"] == 0
    pids = {t.user_attrs["pid"] for t in study.trials if "pid" in t.user_attrs}
    assert len(pids) >= 2, pids  # the processes really shared the work
    assert all("Pareto front:" in out for out in outs)
    check_report(tmp_path / "reports" / STUDY, study)


@pytest.mark.slow  # four real processes; run by .ci/run (pytest -m slow)
def test_four_workers_on_a_journal_storage(tmp_path):
    url = f"journal:///{tmp_path / 'shared' / 'study.log'}"
    args = ("search", "--space", "edge_tiny", "--budget", str(BUDGET), "--quiet", "--workers", "4", "--threads", "1",
            "--storage", url)
    (out,) = _finish([snnas(*args, cwd=tmp_path)])
    study = optuna.load_study(study_name=STUDY, storage=open_storage(url))
    counts = check_study(study, BUDGET)
    assert counts["interrupted"] == 0
    assert len({t.user_attrs["pid"] for t in study.trials if "pid" in t.user_attrs}) >= 2
    # the claim went through the journal's kind of lock beside the journal (released: no lock file is left),
    # not through a local file lock
    assert not list(tmp_path.glob(f"**/.{STUDY}*.lock")), list(tmp_path.glob(f"**/.{STUDY}*.lock"))
    # every journal line is whole JSON (a torn line would make Optuna refuse the file)
    lines = (tmp_path / "shared" / "study.log").read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    # the report, export and dashboard read the journal like any storage
    r = snnas("report", STUDY, "--storage", url, "--no-png", cwd=tmp_path)
    _, err = r.communicate(timeout=300)
    assert r.returncode == 0, err
    check_report(tmp_path / "reports" / STUDY, study)
    assert "Pareto front:" in out
