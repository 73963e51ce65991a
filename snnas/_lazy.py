"""Public names of a package loaded from their submodule on first use (PEP 562).

``snnas --help``, ``snnas spaces`` and ``snnas datasets`` need no tensor: a package ``__init__`` that imported
every submodule would make them pay for torch, Optuna and pandas (seconds) on every call. A package lists its
names by submodule instead; ``from snnas.search import load_space`` then imports only what ``load_space`` needs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose ``exports`` map a submodule to names.

    Example:
        >>> all_, getattr_, _ = lazy_exports("snnas", {"snnas.config": ["ArchConfig"]})
        >>> all_, getattr_("ArchConfig").__name__
        (['ArchConfig'], 'ArchConfig')
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later look-ups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return list(where), __getattr__, __dir__
