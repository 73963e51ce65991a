"""The one lookup every registry (models, datasets, spaces, profiles, samplers) uses for names."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from snnas.errors import ConfigError, UnknownNameError

__all__ = ["lookup", "read_toml"]

V = TypeVar("V")


def lookup(table: Mapping[str, V], name: str, what: str) -> V:
    """``table[name]``, or an :class:`UnknownNameError` naming close matches (or all names)."""
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(table))}"
        raise UnknownNameError(f"unknown {what} {name!r}{hint}") from None


def read_toml(name_or_path: str | Path, builtin: Mapping[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """A shipped TOML file by name, or a user's by path (ending in ``.toml`` or an existing file).

    Returns ``(origin, data)``: where it came from (for error messages) and the parsed table.
    """
    text_path = str(name_or_path)
    if text_path.endswith(".toml") or Path(text_path).is_file():
        path = Path(text_path)
        if not path.is_file():
            raise ConfigError(f"{what} file not found: {path}")
        origin, raw = str(path), path.read_bytes()
    else:
        res = lookup(builtin, text_path, what)
        origin, raw = str(res), res.read_bytes()
    try:
        return origin, tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{origin}: not valid TOML ({e})") from None
