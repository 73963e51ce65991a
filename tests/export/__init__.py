"""Tests of ``snnas export`` and ``snnas train``; both files share one real edge_tiny search per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STUDY = "edge_tiny-fashion-mini"


def snnas(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def searched(tmp_path_factory) -> Path:  # noqa: ANN001
    """A folder holding ``studies/edge_tiny-fashion-mini.db`` from a real 5-trial search (seed 0).

    Made once per test session (under the session's base temp folder) and only read afterwards.
    """
    root = tmp_path_factory.getbasetemp() / "train-search"
    done = root / ".done"
    if not done.exists():
        root.mkdir(exist_ok=True)
        r = snnas(root, "search", "--space", "edge_tiny", "--budget", "5", "--quiet", "--seed", "0")
        assert r.returncode == 0, r.stderr[-3000:]
        done.touch()
    return root
