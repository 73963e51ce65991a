"""Atomic file writes: a reader, or a process killed mid-write, never sees half a file.

Every file snnas writes for users (report pages, CSVs, PNGs, exports, checkpoints) goes through
:func:`write_atomic`: the content goes to ``.<name>.<pid>-<thread>.tmp`` beside the target, is flushed to disk, and is
renamed over the target in one step (``os.replace``), so the target is always either the old complete file or
the new complete one. A temporary file left by a killed writer is removed by the next write of that target.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomic(d / "a.txt", "hello").read_text()
    'hello'
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from snnas import _faults

__all__ = ["write_atomic"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans(path: Path) -> None:
    """Temporary files of this target whose writer died (SIGKILL, power cut) before renaming them."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name.removeprefix(f".{path.name}.").removesuffix(".tmp").split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes | Callable[[Path], None], site: str = "report") -> Path:
    """Write ``data`` (text, bytes, or a function that writes the given path) to ``path`` atomically.

    ``site`` names the fault-injection point between writing and renaming (:mod:`snnas._faults`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{threading.get_native_id()}.tmp"
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        elif isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            data(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        _faults.point(site)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
