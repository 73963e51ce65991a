"""Shared by the bench scripts: the machine they ran on, a rich table, the JSON record in reports/bench/, and
the append-only JSONL rows that make the long ones resumable.

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
from collections.abc import Callable, Iterable
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


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a resumable benchmark; a line cut by a kill mid-write is skipped, so its row is run again."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def run_appending(jobs: list, fn: Callable[[Any], dict[str, Any]], procs: int, path: Path,
                  describe: Callable[[dict[str, Any]], str]) -> Iterable[dict[str, Any]]:
    """``fn`` over ``jobs`` in ``procs`` spawned processes; each row is appended to ``path`` (flushed) and
    printed with ``describe`` as it finishes, then yielded. An interrupted run loses only the rows in flight."""
    import multiprocessing as mp

    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(procs) as pool, path.open("a") as out:
        for k, row in enumerate(pool.imap_unordered(fn, jobs, chunksize=1), 1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            console.print(f"[{k}/{len(jobs)} {time.perf_counter() - t0:.0f} s] {describe(row)}")
            yield row
