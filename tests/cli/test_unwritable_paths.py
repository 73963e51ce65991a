"""Every output path snnas creates (the storage, a report, an export, a training folder) that cannot be made
is one line naming it, never a traceback: a parent that is a file, a folder that cannot be made (/proc), a
read-only place (/sys)."""

from __future__ import annotations

import pytest

from tests.cli._proc import run
from tests.export import made_study

BAD = {"under a file": "afile/sub", "in /proc": "/proc/snnas-x", "in /sys": "/sys/snnas-x"}
WHERE = [pytest.param(w, marks=() if w == "under a file" else pytest.mark.slow) for w in BAD]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    made_study(root / "s.db", [(0.6, 1.0), (0.4, 0.5)], name="s")
    (root / "afile").write_text("a file, not a folder")
    assert run(["export", "s", "--storage", f"sqlite:///{root / 's.db'}", "--out", "e.json"], root).returncode == 0
    return root


def _one_line(r, path):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: cannot "), r.stderr[-2000:]
    assert path.split("/")[0 if not path.startswith("/") else 1] in lines[0]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:///"])
def test_storage(study_dir, where, scheme):
    path = BAD[where] + "/s.db"
    _one_line(run(["search", "--space", "edge_tiny", "--budget", "1", "--storage", scheme + path], study_dir), path)


@pytest.mark.parametrize("where", WHERE)
def test_report_export_train(study_dir, where):
    path, url = BAD[where], f"sqlite:///{study_dir / 's.db'}"
    _one_line(run(["report", "s", "--storage", url, "--out", path], study_dir), path)
    _one_line(run(["export", "s", "--storage", url, "--out", path + "/e.json"], study_dir), path)
    _one_line(run(["train", "e.json", "--out-dir", path, "--epochs", "1"], study_dir), path)
