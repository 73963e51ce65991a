"""The study lock: what makes claiming a budget slot (and creating a study, and the one pre-screen) atomic
for every worker of a study, on whichever machine it runs. One kind per storage, all used the same way
(``with study_lock(url, studies_dir, study): ...``):

* ``sqlite:///`` -- an ``flock`` on ``.<study>.lock`` beside the database file. SQLite serves one machine, and
  so does this lock (the kernel drops it when the holder dies, however it dies).
* ``journal:///`` -- the journal's own kind of lock, Optuna's :class:`JournalFileOpenLock`: a lock file made
  with ``O_EXCL`` beside the journal (``.<study>.claim.lock``), which NFSv3 and later make atomic across
  machines. A holder that dies leaves the file behind; Optuna breaks a lock file whose modification time has
  not changed for its grace period, so while held the file is touched every ``TOUCH_S`` seconds, and a dead
  holder's lock is broken ``JOURNAL_GRACE_S`` seconds after its last touch (not after a fixed time, which a long
  hold -- the pre-screen -- would outlast).
* ``postgresql://`` -- a PostgreSQL session advisory lock (``pg_advisory_lock``) keyed on the study name, on a
  connection of its own. The server drops it when the holder's connection ends, so a killed host frees it at
  once.
* ``mysql://`` -- MySQL's and MariaDB's named lock (``GET_LOCK``), the same design, freed with the session too.
  Its wait is a year, not "negative = for ever": MariaDB answers ``GET_LOCK(name, -1)`` with NULL, i.e. no
  lock (found by running it against MariaDB 10.11), so the answer is checked to be 1.

A local file lock would not do for the last three: workers on several machines each lock their own file.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from snnas._atomic import ensure_dir, unwritable
from snnas.errors import SnnasError, first_line
from snnas.search._storage import bad_url, db_url, masked, scheme_of, storage_file

__all__ = ["JOURNAL_GRACE_S", "TOUCH_S", "StudyLock", "locked", "lock_path", "study_lock"]

TOUCH_S, JOURNAL_GRACE_S = 2.0, 20
_NAMESPACE = 0x736E6E61  # "snna": the first key of snnas's advisory locks, so other programs' keys don't clash


def lock_path(url: str, studies_dir: str | Path, study: str) -> Path:
    """The SQLite lock file: beside the database, so every process using that file shares it whatever its
    working folder."""
    f = storage_file(url)
    return (f.parent if f is not None else Path(studies_dir)) / f".{study}.lock"


class StudyLock:
    """The study's lock as a reusable ``with`` (one hold at a time per thread). It is a description (storage,
    folder, study), so it pickles: Ray Tune pickles the searcher that holds it."""

    def __init__(self, url: str, studies_dir: str | Path, study: str) -> None:
        if scheme_of(url) not in ("sqlite", "journal", "postgresql", "mysql"):
            raise SnnasError(bad_url(url))
        self.url, self.studies_dir, self.study, self.scheme = url, studies_dir, study, scheme_of(url)
        self._held = threading.local()

    def _make(self) -> AbstractContextManager[None]:
        if self.scheme == "journal":
            return _journal_lock(storage_file(self.url).parent / f".{self.study}.claim")
        if self.scheme == "postgresql":
            return _server_lock(self.url, self.study, "SELECT pg_advisory_lock(:a, :b)",
                                "SELECT pg_advisory_unlock(:a, :b)")
        if self.scheme == "mysql":
            return _server_lock(self.url, self.study, "SELECT GET_LOCK(:name, 31536000)", "SELECT RELEASE_LOCK(:name)",
                                granted=lambda answer: answer == 1)
        return locked(lock_path(self.url, self.studies_dir, self.study))

    def __enter__(self) -> None:
        cm = self._make()
        cm.__enter__()
        self._held.cm = cm

    def __exit__(self, *exc: object) -> None:
        cm, self._held.cm = self._held.cm, None
        cm.__exit__(*exc)

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_held"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._held = threading.local()


def study_lock(url: str, studies_dir: str | Path, study: str) -> StudyLock:
    """The lock every worker of ``study`` at ``url`` takes to claim a slot."""
    return StudyLock(url, studies_dir, study)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    ensure_dir(path.parent, "the storage folder")
    try:
        f = open(path, "a")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as e:
        raise unwritable(path, e, "the study lock") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _journal_lock(base: Path) -> Iterator[None]:
    from optuna.storages.journal import JournalFileOpenLock

    ensure_dir(base.parent, "the storage folder")
    lock = JournalFileOpenLock(str(base), grace_period=JOURNAL_GRACE_S)
    try:
        lock.acquire()
    except OSError as e:
        raise unwritable(Path(lock._lock_file), e, "the study lock") from None
    stop = threading.Event()

    def touch() -> None:  # "still held": Optuna breaks a lock file only once its mtime stops changing
        while not stop.wait(TOUCH_S):
            try:
                os.utime(lock._lock_file)
            except OSError:
                return

    keeper = threading.Thread(target=touch, daemon=True, name="snnas-claim-lock")
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        try:
            lock.release()
        except RuntimeError:  # broken by another worker after we stalled past the grace period
            pass


_ENGINES: dict[str, object] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(url: str):  # noqa: ANN202 - a SQLAlchemy Engine
    """One small engine per database and process: the lock's connection is not one of Optuna's, so holding
    the lock never starves the storage's own pool (nor is it ended by Optuna's sessions)."""
    from sqlalchemy import create_engine

    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = create_engine(db_url(url), pool_size=1, max_overflow=2, pool_pre_ping=True)
        return _ENGINES[url]


def _keys(study: str) -> dict[str, object]:
    crc = zlib.crc32(study.encode())
    return {"a": _NAMESPACE, "b": crc - 2**32 if crc >= 2**31 else crc, "name": f"snnas:{study}"[:64]}


@contextmanager
def _server_lock(url: str, study: str, take: str, give: str,
                 granted: Callable[[object], bool] | None = None) -> Iterator[None]:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    keys = _keys(study)
    try:
        conn = _engine(url).connect()
        answer = conn.execute(text(take), keys).scalar()
        conn.commit()  # the lock belongs to the session, not to this transaction
    except SQLAlchemyError as e:
        raise SnnasError(f"cannot reach {masked(url)} for the study lock ({type(e).__name__}: "
                         f"{first_line(e, 200)})") from None
    if granted is not None and not granted(answer):
        conn.close()
        raise SnnasError(f"{masked(url)} did not grant the study lock ({take.split()[1].split('(')[0]} answered "
                         f"{answer!r})")
    try:
        yield
    finally:
        try:
            conn.execute(text(give), keys)
            conn.commit()
        except SQLAlchemyError:
            conn.invalidate()  # a dropped connection: the server has already freed the lock with the session
        finally:
            conn.close()
