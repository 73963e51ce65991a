"""Every command snnas prints as a hint (in `backticks`) runs as printed, from where it was printed: after a
search on a storage of the user's choosing, after a report and an export run from another folder; and the
notes for a `--data-dir` the dataset does not use and a `--budget` already met."""

from __future__ import annotations

import json
import re
import shlex
import socket
import time
import urllib.request

import pytest

from tests.cli._proc import Snnas, run, trials

HINT = re.compile(r"`(snnas [^`]+)`")


def _hints(text: str) -> list[list[str]]:
    return [shlex.split(h)[1:] for h in HINT.findall(text)]


def _serves(args: list[str], cwd) -> None:
    """A dashboard hint: it serves the study until Ctrl-C, which ends it cleanly."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.skip("port 8080 (the dashboard's default) is taken here")
    proc = Snnas(args, cwd)
    try:
        try:
            proc.wait_for(r"optuna-dashboard for study", timeout=120)
        except AssertionError:
            raise AssertionError(proc.finish()) from None
        for _ in range(60):
            try:
                with urllib.request.urlopen("http://127.0.0.1:8080/api/studies", timeout=5) as r:
                    assert '"h"' in r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("the dashboard never answered")
    finally:
        proc.interrupt()
        code, err = proc.finish()
    assert code == 0 and "Traceback" not in err, err


def _runs(hint: list[str], cwd) -> str:
    if hint[0] == "dashboard":
        _serves(hint, cwd)
        return ""
    r = run(hint, cwd)
    assert r.returncode == 0, (hint, r.stderr[-2000:])
    return r.stdout


@pytest.mark.slow  # a search, a dashboard, two exports and trainings: run by .ci/run (pytest -m slow)
def test_every_printed_hint_runs_as_printed(tmp_path):
    here, other = tmp_path / "here", tmp_path / "other"
    here.mkdir()
    other.mkdir()
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'h.db'}"  # not the default studies/<study>.db
    search = ["search", "--space", "edge_tiny", "--budget", "2", "--study", "h", "--storage", url, "--quiet",
              "--data-dir", str(tmp_path)]
    r = run(search, here)
    assert r.returncode == 0, r.stderr[-2000:]
    # fashion-mini is embedded: --data-dir is said to be unused, not silently ignored
    assert f"note: --data-dir {tmp_path} is not used: fashion-mini" in r.stderr
    printed = _hints(r.stdout)
    assert {h[0] for h in printed} >= {"dashboard", "export"}, r.stdout
    for hint in printed:
        assert hint[1:3] == ["h", "--storage"] and hint[3] == url, hint
        out = _runs(hint, here)
        if hint[0] == "export":
            [train] = _hints(out)
            _edit_epochs(here, train)
            _runs(train, here)

    # report and export run from another folder: their hints work from there
    out = _runs(["report", "h", "--storage", url, "--no-png"], other)
    assert (other / "reports" / "h" / "index.html").is_file()
    assert {h[0] for h in _hints(out)} == {"export", "dashboard"}, out
    for hint in _hints(out):
        assert hint[1:4] == ["h", "--storage", url], hint
        _runs(hint, other)
    out = _runs(["export", "h", "--storage", url], other)
    [train] = _hints(out)
    assert (other / train[1]).is_file()
    _edit_epochs(other, train)
    _runs(train, other)

    # the budget already met: said, and nothing trained
    before = len(trials("h", url))
    r = run([*search[:4], "1", *search[5:]], here)
    assert r.returncode == 0 and "already holds 2 finished trials, more than --budget 1" in r.stdout, r.stdout
    assert len(trials("h", url)) == before


def _edit_epochs(cwd, train: list[str]) -> None:
    """What the export's hint invites ("edit the recipe to change"): one epoch, so the test stays short."""
    path = cwd / train[1]
    doc = json.loads(path.read_text())
    doc["recipe"]["epochs"] = 1
    path.write_text(json.dumps(doc))


def test_same_study_name_in_two_storages_keeps_two_reports(tmp_path):
    from tests.export import made_study

    made_study(tmp_path / "a.db", [(0.6, 1.0)], name="s")
    made_study(tmp_path / "b.db", [(0.5, 2.0), (0.4, 1.0)], name="s")
    pages = []
    for db in ("a.db", "b.db", "a.db"):
        out = _runs(["report", "s", "--storage", f"sqlite:///{tmp_path / db}", "--no-png"], tmp_path)
        pages.append(re.search(r"report written to (\S+)", out).group(1))
    assert pages[0] == pages[2] == "reports/s/index.html" and pages[1].startswith("reports/s@")
    assert (tmp_path / pages[0]).read_text() != (tmp_path / pages[1]).read_text()
