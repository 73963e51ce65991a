"""Shared by the bench scripts: the machine they ran on, a rich table, and the JSON record in reports/bench/.

Every script prints a table and one ``summary:`` line, and writes ``reports/bench/<name>.json`` holding its
arguments, rows, summary, goals and the machine (CPU model, cores, threads, package versions), so a number
in ``docs/benchmarks.md`` can always be traced to the run that produced it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from snnas._atomic import write_atomic

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = Path(os.environ.get("SNNAS_BENCH_DIR", ROOT / "reports" / "bench"))
console = Console(highlight=False, width=150)


def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    import torch

    from snnas._versions import package_versions

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        **package_versions("optuna", "ray"),
    }
    try:
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return info


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="left" if c == columns[0] else "right")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return "-" if v is None else str(v)


def record(name: str, args: Any, rows: list[dict[str, Any]], summary: str, goals: dict[str, Any] | None = None,
           **extra: Any) -> Path:
    """Print the summary line and write ``reports/bench/<name>.json``; returns the path."""
    console.print(f"summary: {summary}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    data = {"bench": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(["python", *sys.argv]),
            "args": vars(args) if hasattr(args, "__dict__") else args,
            "machine": machine(), "rows": rows, "summary": summary, "goals": goals or {}, **extra}
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
    console.print(f"[dim]wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}[/dim]")
    return path
