"""How long the CLI takes to answer the commands that need no tensor (goal: `snnas --help` under 0.5 s wall).

Runs each command ``--runs`` times as a fresh process (after one warm-up run that fills the file cache) and
reports the median wall time, with the heavy packages the command imported (``-X importtime``, not counted in
the timed runs). ``--pythonpath`` times another checkout of snnas with the same interpreter, e.g. the commit
before a change:

    python bench/cli_startup.py [--runs 7]
    git worktree add /tmp/before <commit> && python bench/cli_startup.py --pythonpath /tmp/before --name before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import _common

COMMANDS = {
    "help": ["--help"],
    "spaces": ["spaces"],
    "spaces edge_tiny": ["spaces", "edge_tiny"],
    "unknown space": ["spaces", "no_such_space"],
    "datasets": ["datasets"],
    "search --help": ["search", "--help"],
    "report --help": ["report", "--help"],
    **{f"{c} --help": [c, "--help"] for c in ("energy", "trial", "dashboard", "export", "train")},
    "models": ["models"],  # counts parameters on the meta device: the one listed here that needs torch
}
HEAVY = ("torch", "ray", "plotly", "pandas", "spikingjelly", "optuna", "numpy", "pydantic")
GOAL_S = 0.5


def _where(pythonpath: str | None) -> dict[str, object]:
    """The environment and folder to run in: ``python -m`` puts its folder before PYTHONPATH on sys.path, so
    another checkout is run from inside it (from here, the snnas of this folder would answer)."""
    if not pythonpath:
        return {"env": os.environ, "cwd": None}
    return {"env": {**os.environ, "PYTHONPATH": pythonpath}, "cwd": pythonpath}


def _wall(args: list[str], where: dict[str, object]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snnas", *args], capture_output=True, check=False, **where)
    return time.perf_counter() - t0


def _heavy_imports(args: list[str], where: dict[str, object]) -> list[str]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "snnas", *args], capture_output=True, text=True,
                       check=False, **where)
    tops = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in r.stderr.splitlines()
            if line.startswith("import time:")}
    return [m for m in HEAVY if m in tops]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7, help="timed runs of each command (the median is reported)")
    p.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS),
                   help="which to time, by the names of COMMANDS (help is `snnas --help`)")
    p.add_argument("--pythonpath", default=None, help="PYTHONPATH for the commands (another snnas checkout)")
    p.add_argument("--name", default="cli_startup", help="record name (reports/bench/<name>.json)")
    a = p.parse_args()
    where = _where(a.pythonpath)
    rows = []
    for label in a.commands:
        args = COMMANDS[label]
        _wall(args, where)  # warm-up: the first run also reads the files from disk
        times = [_wall(args, where) for _ in range(a.runs)]
        rows.append({"command": " ".join(["snnas", *args]), "median_s": statistics.median(times), "min_s": min(times),
                     "max_s": max(times), "runs": a.runs, "heavy_imports": _heavy_imports(args, where)})
    _common.table(f"CLI wall time per command, median of {a.runs} fresh processes",
                  ["command", "median s", "min s", "max s", "heavy packages imported"],
                  [[r["command"], r["median_s"], r["min_s"], r["max_s"], ", ".join(r["heavy_imports"]) or "-"]
                   for r in rows])
    by = {r["command"]: r for r in rows}
    help_s = by["snnas --help"]["median_s"] if "snnas --help" in by else None
    light = [r for r in rows if r["command"] != "snnas models"]
    worst = max(light, key=lambda r: r["median_s"]) if light else None
    summary = (f"snnas --help {help_s:.2f} s median (goal < {GOAL_S} s: {'met' if help_s < GOAL_S else 'missed'})"
               if help_s is not None else "snnas --help not timed")
    if worst is not None:
        summary += f"; slowest tensor-free command {worst['command']} {worst['median_s']:.2f} s"
    goals = {"help_wall_s": {"goal": f"< {GOAL_S}", "value": help_s, "met": help_s is not None and help_s < GOAL_S}}
    _common.record(a.name, a, rows, summary, goals=goals)


if __name__ == "__main__":
    main()
