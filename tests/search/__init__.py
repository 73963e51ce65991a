"""Helpers shared by the search tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna


def study_db(cwd: Path, study: str) -> Path:
    return cwd / "studies" / f"{study}.db"


def load(cwd: Path, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{study_db(cwd, study)}")


def peek(cwd: Path, study: str) -> optuna.Study | None:
    """The study of a search that is still running, or ``None`` while its database is still being made.

    Opening a file as an Optuna storage writes the schema when it is missing, so a test that polled with
    ``optuna.load_study`` while the search created its database raced it for the version row (``UNIQUE
    constraint failed: alembic_version.version_num``, seen in CI). This looks read-only first.
    """
    db = study_db(cwd, study)
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            ready = (con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
                     and con.execute("SELECT count(*) FROM studies WHERE study_name = ?", (study,)).fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # no tables yet, or a writer holds the file
        return None
    return load(cwd, study) if ready else None
