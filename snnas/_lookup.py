"""The one lookup every registry (models, datasets, spaces, profiles, samplers) uses for names."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from snnas.errors import ConfigError, UnknownNameError, parse_failure, shown

__all__ = ["lookup", "read_toml", "MAX_TOML_BYTES"]

V = TypeVar("V")


def lookup(table: Mapping[str, V], name: str, what: str) -> V:
    """``table[name]``, or an :class:`UnknownNameError` naming close matches (or all names)."""
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(table))}"
        raise UnknownNameError(f"unknown {what} {shown(name)}{hint}") from None


MAX_TOML_BYTES = 1 << 20  # a space or profile file is a few kB; a bigger one is a mistake, not a config


def read_toml(name_or_path: str | Path, builtin: Mapping[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """A shipped TOML file by name, or a user's by path (ending in ``.toml`` or an existing file).

    Returns ``(origin, data)``: where it came from (for error messages) and the parsed table. A folder, a file
    over :data:`MAX_TOML_BYTES`, bytes that are not UTF-8 and TOML nested too deeply to parse are each one
    :class:`ConfigError` line, like a syntax error.
    """
    text_path = str(name_or_path)
    path = Path(text_path)
    if (text_path.endswith(".toml") or "/" in text_path) and path.is_dir():
        raise ConfigError(f"{what} file {path} is a folder, not a TOML file")
    if text_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{what} file not found: {path}")
        origin = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_TOML_BYTES:
                raise ConfigError(f"{origin}: {size:,} bytes is too large for a {what} file (at most "
                                  f"{MAX_TOML_BYTES:,}); is it the right file?")
            raw = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read {what} file {origin} ({e.strerror or e})") from None
    else:
        res = lookup(builtin, text_path, what)
        origin, raw = str(res), res.read_bytes()
    try:
        return origin, tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:  # TOMLDecodeError is a ValueError, as is an int of 5000 digits
        raise ConfigError(f"{origin}: not valid TOML ({parse_failure(e)})") from None
    except RecursionError:
        raise ConfigError(f"{origin}: not valid TOML (arrays or inline tables nested too deeply)") from None
