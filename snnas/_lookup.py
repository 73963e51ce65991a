"""The one lookup every registry (models, datasets, spaces, profiles, samplers) uses for names."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

from snnas.errors import UnknownNameError

__all__ = ["lookup"]

V = TypeVar("V")


def lookup(table: Mapping[str, V], name: str, what: str) -> V:
    """``table[name]``, or an :class:`UnknownNameError` naming close matches (or all names)."""
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(table))}"
        raise UnknownNameError(f"unknown {what} {name!r}{hint}") from None
