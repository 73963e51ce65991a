"""Package versions recorded with every energy report and every search trial."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_versions"]


@functools.cache
def package_versions(*names: str) -> dict[str, str]:
    """``{package: version}`` for snnas, torch, spikingjelly and ``names`` (read once per process)."""
    out = {}
    for pkg in ("snnas", "torch", "spikingjelly", *names):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
