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
from snnas.errors import SnnasError

__all__ = ["ensure_dir", "unwritable", "write_atomic"]


def unwritable(path: Path, e: OSError, what: str = "") -> SnnasError:
    """The one-line error for a path snnas cannot create or write (a parent that is a file, a read-only
    file system, no permission, a name too long, a full disk)."""
    why = e.strerror or str(e) or type(e).__name__
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        why = "a part of the path is a file, not a folder"
    label = f"{what} " if what else ""
    return SnnasError(f"cannot write {label}{path}: {why}")


def ensure_dir(path: str | Path, what: str = "") -> Path:
    """``path`` as an existing folder, made with its parents when missing; a one-line :class:`SnnasError`
    when it cannot be (``what`` names it in the message, e.g. ``"--out-dir"``)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(path, e, what) from None
    return path


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

    ``site`` names the fault-injection point between writing and renaming (:mod:`snnas._faults`). A target
    that cannot be written is a one-line :class:`SnnasError` (:func:`unwritable`), and nothing is left behind.
    """
    path = Path(path)
    ensure_dir(path.parent)
    _remove_orphans(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{threading.get_native_id()}.tmp"
    try:
        if path.is_dir():
            raise SnnasError(f"cannot write {path}: it is a folder")
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
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise unwritable(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
