"""Small text helpers shared by every layer's messages."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one.

    Example:
        >>> plural(1, "trial"), plural(0, "trial"), plural(3, "process", "processes")
        ('1 trial', '0 trials', '3 processes')
    """
    return f"{n} {word if n == 1 else (many or word + 's')}"
