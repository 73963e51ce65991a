"""Real ``snnas`` processes for the CLI tests: started as a terminal would, read while they run."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna

from snnas.search import counts_toward_budget

ENV = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}


def _default_sigint() -> None:
    # A background CI job runs with SIGINT ignored, and an ignored signal stays ignored through exec: give the
    # child the default a terminal's shell gives it, so Python installs its KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Snnas:
    """``python -m snnas ARGS`` in its own process group (as a terminal runs a job), stdout read line by line."""

    def __init__(self, args: list[str], cwd: Path, stdout=subprocess.PIPE) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "snnas", *args], cwd=cwd, env=ENV, text=True,
                                     stdout=stdout, stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_default_sigint)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        if stdout is subprocess.PIPE:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float = 240) -> str:
        """Block until a stdout line matches ``pattern``; fails if the process ends or time runs out first."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                line = self._q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"ended before a line matching {pattern!r}: {self.lines[-5:]}")
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """(exit code, stderr) once it ends."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        while True:  # the rest of stdout, read by the reader thread
            try:
                line = self._q.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return self.proc.returncode, err


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, env=ENV, text=True, capture_output=True,
                          timeout=timeout, preexec_fn=_default_sigint)


def trials(study: str, storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def counted(ts: list[optuna.trial.FrozenTrial]) -> int:
    return sum(counts_toward_budget(t) for t in ts)
