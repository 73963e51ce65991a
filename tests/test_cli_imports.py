"""Commands that need no tensor answer without importing torch, Ray, plotly, pandas, spikingjelly or Optuna.

Each command runs in a fresh interpreter (an import made by an earlier test would hide one made here), through
the console script's ``snnas.cli.main``; the interpreter prints the top-level packages it imported on exit.
How fast they answer is measured by bench/cli_startup.py, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"torch", "ray", "plotly", "pandas", "spikingjelly", "optuna", "numpy"}
# Runs the CLI as the `snnas` console script does; the module list is printed even when main() exits 2.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))
sys.argv = ['snnas', *sys.argv[1:]]
from snnas.cli import main
main()
"""
COMMANDS = {
    "help": (["--help"], 0),
    "spaces": (["spaces"], 0),
    "spaces NAME": (["spaces", "edge_tiny"], 0),
    "spaces --json": (["spaces", "--json"], 0),
    "unknown space": (["spaces", "no_such_space"], 2),
    "trial, unknown space": (["trial", "--space", "no_such_space", "--params", "{}"], 2),
    "datasets": (["datasets"], 0),
    "datasets --json": (["datasets", "--json"], 0),
    "search --help": (["search", "--help"], 0),
    "report --help": (["report", "--help"], 0),
    "models --help": (["models", "--help"], 0),
    **{f"{c} --help": ([c, "--help"], 0) for c in ("energy", "trial", "dashboard", "export", "train")},
}


def imported_by(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    return r, set(json.loads(r.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_light_commands_import_no_heavy_package(name):
    args, code = COMMANDS[name]
    r, modules = imported_by(*args)
    assert r.returncode == code, r.stderr[-2000:]
    assert not modules & HEAVY, f"snnas {' '.join(args)} imported {sorted(modules & HEAVY)}"


def test_unknown_space_is_still_one_line_naming_the_known_ones():
    r, _ = imported_by("spaces", "no_such_space")
    error = r.stderr.strip().splitlines()[:-1]  # the last line is the probe's module list
    assert error == [error[0]] and "unknown search space 'no_such_space'" in error[0] and "edge_tiny" in error[0]


def test_the_probe_sees_a_heavy_import():  # the test above would pass vacuously if the probe saw nothing
    r, modules = imported_by("models", "test_*", "--json")
    assert r.returncode == 0 and "torch" in modules
