"""The bad-input corpus (tests/reliability/_corpus.py): every case is one line on stderr, exit code 2, and
leaves every stored file as it was.

The default run calls ``snnas.cli.main()`` in-process for every case (fast); the slow test runs one case per
code path (``PROCESS_CASES``) as a real ``python -m snnas`` process, which is what a user sees (interpreter
warnings, logging and exit codes included).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from snnas import cli
from tests.reliability._corpus import CASES, PROCESS_CASES, STUDY, Case, check, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SUBPROCESS_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def stored(tiny_search, tmp_path_factory) -> Path:
    """Real stored results: the tiny search's study database and report folder, plus a real export file."""
    from snnas.export import export_trial

    src, r, _ = tiny_search
    assert r.returncode == 0, r.stderr[-2000:]
    root = tmp_path_factory.mktemp("stored")
    for name in ("studies", "reports"):
        shutil.copytree(src / name, root / name)
    (root / "exports").mkdir()
    path = export_trial(STUDY, studies_dir=root / "studies", out=root / "exports")
    assert path.parent == root / "exports"
    return root


def prepare(case: Case, stored: Path, where: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the stored folder with the case's own files written, and its snapshot."""
    folder = where / "case"
    shutil.copytree(stored, folder)
    if case.setup is not None:
        case.setup(folder)
    return folder, snapshot(folder)


def run_in_process(argv: list[str], folder: Path, monkeypatch: pytest.MonkeyPatch,
                   capfd: pytest.CaptureFixture[str]) -> tuple[int | None, str, str]:
    """``snnas <argv>`` through the console-script entry point, with its exit code and both streams."""
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["snnas", *argv])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # typer installs its own; put ours back after
    monkeypatch.delenv("SNNAS_DATA_DIR", raising=False)
    capfd.readouterr()
    try:
        cli.main()
        code: int | None = 0
    except SystemExit as e:  # what the interpreter would do with it
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except Exception:  # noqa: BLE001 - a bug: the interpreter would print the traceback and exit 1
        traceback.print_exc()
        code = 1
    out, err = capfd.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_damages_nothing(case, stored, tmp_path, monkeypatch, capfd):
    folder, before = prepare(case, stored, tmp_path)
    code, out, err = run_in_process(case.argv(folder), folder, monkeypatch, capfd)
    check(case, folder, before, code, out, err)


def test_corpus_covers_every_category():
    assert len(CASES) >= 35 and len(PROCESS_CASES) >= 35
    for cases in (CASES, PROCESS_CASES):
        prefixes = {c.id.split("-")[0] for c in cases}
        assert {"space", "cli", "data", "study", "export", "models", "energy", "trial"} <= prefixes


def _run_subprocess(case: Case, stored: Path, where: Path) -> str | None:
    """One case as a real process; None when every check holds, else what failed."""
    folder, before = prepare(case, stored, where)
    env = {k: v for k, v in os.environ.items() if k != "SNNAS_DATA_DIR"}
    try:
        r = subprocess.run([sys.executable, "-m", "snnas", *case.argv(folder)], cwd=folder, capture_output=True,
                           text=True, timeout=SUBPROCESS_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return f"{case.id}: still running after {SUBPROCESS_TIMEOUT_S} s"
    try:
        check(case, folder, before, r.returncode, r.stdout, r.stderr)
    except AssertionError as e:
        return f"{case.id}: {e}"
    return None


# One case per code path as a real `python -m snnas` process (~5 s of imports each, two at a time; ~4 minutes):
# run by .ci/run (pytest -m slow).
@pytest.mark.slow
def test_bad_input_as_real_processes(stored, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: _run_subprocess(c, stored, tmp_path / c.id), PROCESS_CASES))
    failures = [r for r in results if r is not None]
    assert not failures, f"{len(failures)} of {len(PROCESS_CASES)} cases failed:\n\n" + "\n\n".join(failures)
