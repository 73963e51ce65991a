"""``snnas search --quiet``: every trial the run finishes gets its line, whatever the worker thread does meanwhile."""

from __future__ import annotations

import contextlib
import io
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import snnas.search._run
from snnas.search import SearchOptions, search

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


class _SwappingRunner:
    """A worker thread that ends three trials as FAIL with their reasons while it holds ``sys.stdout`` swapped
    (``contextlib.redirect_stdout``, as thop's silencing once did on the real worker thread), long enough for
    the watch, which polls every second, to print their lines meanwhile."""

    def __init__(self, opts: SearchOptions, *args: object) -> None:
        self.opts = opts
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        study = optuna.load_study(study_name=self.opts.study, storage=self.opts.storage)
        with contextlib.redirect_stdout(io.StringIO()):
            for n in range(3):
                study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": f"boom {n}"}))
            time.sleep(2.5)

    def start(self) -> None:
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def finish(self) -> None:
        self.thread.join()

    def abort(self) -> None:
        pass

    def held(self, study: optuna.Study) -> list[int]:
        return []


def test_trial_lines_are_not_lost_to_a_worker_thread_swapping_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(snnas.search._run, "_WorkerRunner", _SwappingRunner)
    search(SearchOptions(space="edge_tiny", budget=3, study="s", storage=f"sqlite:///{tmp_path / 's.db'}"),
           quiet=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 3, lines
    assert all(line.startswith(f"trial {n} FAIL") and line.endswith(f"boom {n}") for n, line in enumerate(lines))
