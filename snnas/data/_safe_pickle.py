"""A restricted unpickler for the CIFAR "python version" batches.

A pickle can call any importable function while it loads, so user files are never given to
:func:`pickle.load`. :class:`SafeUnpickler` resolves only the few globals that numpy arrays need; any other
global is refused *before* it is imported or called, so a hostile file cannot run code.

Which globals appear (checked by pickling a CIFAR-style dict with numpy 2.4 at protocols 0-5, and from the
original Python 2 files): ``numpy.core.multiarray._reconstruct`` (numpy 2 spells it
``numpy._core.multiarray``), ``numpy.ndarray`` and ``numpy.dtype``; protocol 5 uses
``numpy._core.numeric._frombuffer`` instead; Python 3 pickles of ``bytes`` at protocol < 3 use
``_codecs.encode(text, "latin1")``. dict/list/str/bytes/int come from opcodes, not globals.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snnas.errors import DatasetError

__all__ = ["SafeUnpickler", "safe_load", "ALLOWED_GLOBALS"]


def _numpy_internals() -> tuple[Any, Any]:
    try:  # numpy >= 2 renamed numpy.core to numpy._core; importing the old name warns
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    return multiarray, numeric


_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Pickles of bytes written at protocol < 3 call _codecs.encode(text, "latin1"); no other codec is needed,
    # and matching the name literally keeps the codec registry (which imports modules by name) out of reach.
    if str(encoding).lower().replace("_", "-") not in _LATIN1 or not isinstance(obj, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return obj.encode("latin-1")


def _allowed() -> dict[tuple[str, str], Callable[..., Any] | type]:
    multiarray, numeric = _numpy_internals()
    table: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):  # files written by numpy 1 and by numpy 2
        table[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(_allowed())


class ForbiddenGlobal(pickle.UnpicklingError):
    """Raised by :meth:`SafeUnpickler.find_class` for a global outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only built-in containers and numpy arrays.

    Example:
        >>> import pickle, numpy as np
        >>> blob = pickle.dumps({b"data": np.arange(3, dtype=np.uint8)})
        >>> SafeUnpickler(io.BytesIO(blob)).load()[b"data"].tolist()
        [0, 1, 2]
    """

    _table = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise ForbiddenGlobal(module, name) from None


def safe_load(path: str | Path, *, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`, turning every failure into a one-line error.

    ``encoding="latin1"`` is what numpy needs for arrays pickled by Python 2 (the original CIFAR files).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return SafeUnpickler(io.BytesIO(raw), encoding=encoding).load()
    except ForbiddenGlobal as e:
        raise DatasetError(f"{path}: refused to unpickle: the file references the forbidden global "
                           f"{e.qualname} (only numpy arrays and built-in containers are allowed)") from None
    except EOFError:
        raise DatasetError(f"{path}: truncated pickle (ended before the STOP opcode)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            MemoryError, UnicodeDecodeError) as e:
        # Corrupt bytes surface as any of these from the pickle machine or numpy's __setstate__.
        raise DatasetError(f"{path}: not a valid CIFAR pickle ({type(e).__name__}: {e})") from None
