"""The one error type for mistakes a user can make.

The CLI prints a :class:`SnnasError` as a single line and exits with code 2 (:class:`Interrupted`, Ctrl-C,
with 130, the shell's code for SIGINT); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["SnnasError", "ConfigError", "DatasetError", "Interrupted", "UnknownNameError", "first_line",
           "parse_failure", "shown"]


class SnnasError(Exception):
    """A user-caused error (bad config, unknown name, missing file, corrupt input)."""


class Interrupted(SnnasError):
    """The user pressed Ctrl-C; the message says what was kept. Exit code 130 (128 + SIGINT)."""

    exit_code = 130


class ConfigError(SnnasError, ValueError):
    """An invalid architecture or search-space setting; the message names the field."""


class DatasetError(SnnasError):
    """Missing, incomplete or corrupt dataset files; the message names the file and what was expected."""


class UnknownNameError(SnnasError, KeyError):
    """A registry lookup for a name that is not registered; the message lists close names."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


def first_line(e: BaseException, limit: int = 300) -> str:
    """An exception's first non-blank line, at most ``limit`` characters: what a one-line report quotes."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8


def shown(value: Any) -> str:
    """``repr(value)`` cut to a readable length, for the ``(got ...)`` of an error message.

    A hostile input may hold a megabyte-long list or tables nested thousands deep; its error stays one short
    line (plain ``repr`` would print all of it, or fail with RecursionError).

    Example:
        >>> shown([1] * 1000), shown("x" * 5), shown({"a": {"a": {"a": {"a": 1}}}})
        ('[1, 1, 1, 1, 1, 1, 1, 1, ...]', "'xxxxx'", "{'a': {'a': {'a': {...}}}}")
    """
    return _REPR.repr(value)


def parse_failure(e: BaseException) -> str:
    """What a JSON or TOML parser's exception says, as one line, without Python's advice to raise its limit on
    integer digits (an integer literal of thousands of digits is a broken file, not a setting to change)."""
    return first_line(e).split("; use sys.set_int_max_str_digits()")[0]
