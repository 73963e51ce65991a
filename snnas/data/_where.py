"""Whether a ``--data-dir`` is what a dataset is read from (the embedded ``fashion-mini`` never is)."""

from __future__ import annotations

import os
from pathlib import Path

from snnas.data._registry import get_entry

__all__ = ["unused_data_dir"]

_NOWHERE = Path(os.devnull) / "snnas-no-data"  # a folder no dataset can be in


def unused_data_dir(name: str, data_dir: str | Path | None) -> str | None:
    """A one-line note when ``data_dir`` is given but ``name`` is read from elsewhere (package data), else
    ``None``. A dataset not found there is not this note's business: loading it says where it looked.

    The root is unused when the dataset is found at the same place given a root that cannot hold anything (a
    path under ``/dev/null``): found whatever the root says. (A path-prefix test was fooled by a package
    installed under the given folder; comparing with no root, by ``./data``, the default root.)

    Example:
        >>> unused_data_dir("fashion-mini", "/data")
        '--data-dir /data is not used: fashion-mini is read from its own files (fashion_mini.npz (package data))'
        >>> unused_data_dir("mnist", "/data") is None
        True
    """
    if data_dir is None:
        return None
    entry = get_entry(name)
    loc = entry.locate(Path(data_dir))
    if not loc.available or loc.path is None or entry.locate(_NOWHERE).path != loc.path:
        return None
    return f"--data-dir {data_dir} is not used: {name} is read from its own files ({loc.expected})"
