"""Notes: one line on stderr for something the user asked that snnas did not do as written (not an error)."""

from __future__ import annotations

import sys


def note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr, flush=True)


def note_data_dir(dataset: str, data_dir: str | None) -> None:
    """Say so when ``--data-dir`` is given for a dataset that is not read from it (the embedded one)."""
    from snnas.data._where import unused_data_dir

    message = unused_data_dir(dataset, data_dir)
    if message:
        note(message)
