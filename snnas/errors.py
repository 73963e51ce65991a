"""The one error type for mistakes a user can make.

The CLI prints a :class:`SnnasError` as a single line and exits with code 2; any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["SnnasError", "ConfigError", "DatasetError", "UnknownNameError"]


class SnnasError(Exception):
    """A user-caused error (bad config, unknown name, missing file, corrupt input)."""


class ConfigError(SnnasError, ValueError):
    """An invalid architecture or search-space setting; the message names the field."""


class DatasetError(SnnasError):
    """Missing, incomplete or corrupt dataset files; the message names the file and what was expected."""


class UnknownNameError(SnnasError, KeyError):
    """A registry lookup for a name that is not registered; the message lists close names."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""
