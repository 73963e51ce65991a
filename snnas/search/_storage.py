"""The Optuna storages a search runs on, opened one way everywhere (search, report, dashboard, export).

* ``sqlite:///studies/<study>.db`` (the default): one file, any number of worker processes on one machine.
  Writers wait up to a minute for SQLite's lock instead of failing with "database is locked".
* Any other SQLAlchemy URL (``postgresql://``, ``mysql://``): Optuna's RDB storage, for workers on several
  machines that reach one database server. A plain ``postgresql://`` URL is served by psycopg 3 (the
  ``snnas[postgresql]`` extra) unless psycopg2 is installed, which SQLAlchemy would pick by default; a plain
  ``mysql://`` by pymysql (``snnas[mysql]``) unless mysqlclient is installed.
* ``journal:///path/to/study.log``: Optuna's append-only journal file (``JournalFileBackend`` with its
  ``O_EXCL`` lock file), the storage Optuna recommends for several processes or machines sharing a network
  file system, where SQLite's locking is unreliable. snnas adds what Optuna's journal storage lacks:
  heartbeats, so a killed worker's trial goes stale and is re-run as on the RDB storages.

Heartbeats beat every ``HEARTBEAT_S`` seconds; a running trial silent for ``GRACE_S`` is stale. Journal
heartbeats compare the workers' wall clocks, so machines sharing a journal need synchronised clocks (NTP).
"""

from __future__ import annotations

import shlex
import time
import warnings
from datetime import datetime
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from snnas import _faults
from snnas._atomic import ensure_dir
from snnas.errors import SnnasError, first_line

__all__ = ["HEARTBEAT_S", "GRACE_S", "JOURNAL", "artifact_dir", "bad_url", "db_url", "default_url", "masked",
           "open_storage", "scheme_of", "storage_file"]

HEARTBEAT_S, GRACE_S = 2, 8
JOURNAL = "journal:///"
SQLITE = "sqlite:///"
_BEAT = "snnas:heartbeat"  # journal trials' system attribute: the last beat's wall-clock time

# We drive heartbeats ourselves (ask/tell has no Study.optimize loop) and rely on heartbeat storage arguments
# and fail_stale_trials, which Optuna still labels experimental; none of these warnings helps a user.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def default_url(studies_dir: str | Path, study: str) -> str:
    return f"{SQLITE}{Path(studies_dir) / (study + '.db')}"


def scheme_of(url: str) -> str:
    """``sqlite``, ``journal``, ``postgresql``, ``mysql``, ...: the URL's scheme without its driver."""
    return url.split(":", 1)[0].split("+")[0]


def storage_file(url: str) -> Path | None:
    """The local file behind a SQLite or journal URL; ``None`` for a database server."""
    for prefix in (SQLITE, JOURNAL):
        if url.startswith(prefix):
            return Path(url.removeprefix(prefix))
    return None


def artifact_dir(url: str, study: str) -> Path | None:
    """Where a study's Optuna artifacts go (``<study>.artifacts`` beside its SQLite or journal file, shared by
    whoever shares that file); ``None`` for a database server, whose hosts share no folder that snnas knows."""
    f = storage_file(url)
    return None if f is None else f.parent / f"{study}.artifacts"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def db_url(url: str) -> str:
    """The SQLAlchemy URL for a database ``--storage``: ``postgresql://`` names no driver, and SQLAlchemy 2's
    default (psycopg2) is not what ``snnas[postgresql]`` installs; psycopg 3 serves it unless psycopg2 is
    there. A missing driver is a one-line error that says what to install."""
    scheme, sep, rest = url.partition("://")
    if scheme == "postgresql" and not _installed("psycopg2"):
        if not _installed("psycopg"):
            raise SnnasError("--storage postgresql://... needs a PostgreSQL driver: pip install 'snnas[postgresql]' "
                             "(psycopg 3)")
        return f"postgresql+psycopg{sep}{rest}"
    if scheme == "mysql" and not _installed("MySQLdb"):
        if not _installed("pymysql"):
            raise SnnasError("--storage mysql://... needs a MySQL driver: pip install 'snnas[mysql]' (pymysql)")
        return f"mysql+pymysql{sep}{rest}"
    return url


def _never_beat(t: FrozenTrial, now: datetime) -> bool:
    """A running trial that never beat although it started long ago: its process died between ``study.ask``
    and the first beat (a search beats right after asking). Optuna's own check skips such trials, so they
    held a budget slot forever (found by the reliability suite's kill at the ``ask`` fault site)."""
    return t.datetime_start is not None and (now - t.datetime_start).total_seconds() > GRACE_S


class RDBHeartbeatStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, whose stale trials also include the running trials that never beat."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import orm

        stale = super()._get_stale_trial_ids(study_id)
        now = datetime.now()  # Optuna stamps datetime_start with the local clock too
        with _create_scoped_session(self.scoped_session, True) as session:
            for t in (session.query(models.TrialModel).options(orm.selectinload(models.TrialModel.heartbeats))
                      .filter(models.TrialModel.state == TrialState.RUNNING,
                              models.TrialModel.study_id == study_id).all()):
                if not t.heartbeats and _never_beat(t, now):
                    stale.append(t.trial_id)
        return stale


class JournalHeartbeatStorage(JournalStorage, BaseHeartbeat):
    """Optuna's journal storage with heartbeats kept as a trial system attribute."""

    def __init__(self, path: Path) -> None:
        super().__init__(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, _BEAT, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now, clock = time.time(), datetime.now()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if (now - float(t.system_attrs[_BEAT]) > GRACE_S if _BEAT in t.system_attrs else _never_beat(t, clock))]

    def get_heartbeat_interval(self) -> int:
        return HEARTBEAT_S

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None  # the search re-queues interrupted trials itself, under its claim lock


def _fault_on_writes(engine) -> None:  # noqa: ANN001
    """``storage`` fault site: after a writing SQL statement, inside its still-open transaction."""
    from sqlalchemy import event

    def after(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            _faults.point("storage")

    event.listen(engine, "after_cursor_execute", after)


def _fault_on_appends(storage: JournalHeartbeatStorage) -> None:
    """``storage`` fault site on the journal: a write that holds the journal's lock file and has not yet
    appended its lines (a kill there leaves the lock file for Optuna's 30 s grace period to break)."""
    lock = storage._backend._lock
    acquire = lock.acquire

    def acquire_then_fault() -> bool:
        got = acquire()
        try:
            _faults.point("storage")
        except BaseException:
            lock.release()
            raise
        return got

    lock.acquire = acquire_then_fault


def _require_optuna_sqlite(f: Path) -> None:
    """Refuse an existing SQLite file that is not an Optuna storage *before* Optuna opens it: its constructor
    writes its schema into any SQLite file, so an emptied study file or another program's database would be
    silently rewritten (found by the bad-input corpus)."""
    import sqlite3

    if f.stat().st_size == 0:
        raise SnnasError(f"{f} is empty (0 bytes): not an Optuna study database (a truncated copy?)")
    try:
        con = sqlite3.connect(f, timeout=60)  # read only; a killed writer's hot journal is rolled back
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
    except sqlite3.Error as e:
        raise SnnasError(f"cannot read sqlite:///{f} as an Optuna storage ({type(e).__name__}: "
                         f"{first_line(e, 200)})") from None
    if not {"studies", "version_info"} <= tables:
        raise SnnasError(f"{f} is an SQLite database but not an Optuna study database "
                         f"(tables: {', '.join(sorted(tables)[:8]) or 'none'}); refusing to write into it")


def _rdb(url: str, scheme: str) -> RDBHeartbeatStorage:
    """Optuna's RDB storage. Opening writes the schema and its version row into a new database; another
    program opening the same new database at that moment (``optuna.load_study``, a dashboard) can create them
    first, and the loser's error (``UNIQUE constraint failed: alembic_version.version_num`` on SQLite; a
    duplicate table or type on PostgreSQL) then only means the schema is there now: open again (snnas's own
    processes take the study lock for this; others don't)."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {"pool_pre_ping": True}
    url = db_url(url)
    for wait in (0.2, 0.4, None):
        try:
            return RDBHeartbeatStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        except (IntegrityError, ProgrammingError) as e:
            if wait is None or not (isinstance(e, IntegrityError) or "already exists" in str(e)):
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")


def open_storage(url: str, create: bool = False) -> BaseStorage:
    """The storage at ``url``; ``create`` makes a missing SQLite or journal file (a search), otherwise a missing
    or unreadable storage is a one-line :class:`SnnasError` and nothing is written."""
    f = storage_file(url)
    if f is not None and not create and not f.is_file():
        raise SnnasError(f"no study database at {f}")
    if f is not None and f.is_dir():
        raise SnnasError(f"--storage {url}: {f} is a folder, not a storage file")
    if f is not None and create:
        ensure_dir(f.parent, "the storage folder")
    if url.startswith(SQLITE) and f.is_file():
        _require_optuna_sqlite(f)
    scheme = scheme_of(url)
    try:
        if url.startswith(JOURNAL):
            storage = JournalHeartbeatStorage(f)
            if _faults.planned("storage"):
                _fault_on_appends(storage)
            return storage
        if scheme in ("sqlite", "postgresql", "mysql"):
            storage = _rdb(url, scheme)
            if _faults.planned("storage"):
                _fault_on_writes(storage.engine)
            return storage
    except SnnasError:
        raise
    except Exception as e:  # noqa: BLE001 - not a database, a corrupt journal, a newer schema, no server
        raise SnnasError(f"cannot read {masked(url)} as an Optuna storage ({type(e).__name__}: "
                         f"{first_line(e, 200)})") from None
    raise SnnasError(bad_url(url))


def bad_url(url: str) -> str:
    return (f"--storage must be sqlite:///FILE, journal:///FILE or a database URL (postgresql://..., "
            f"mysql://...), got {masked(url)!r}")


def identity(url: str) -> str:
    """What tells storages apart: a file storage's absolute path, a server's URL without its password."""
    f = storage_file(url)
    return f"{scheme_of(url)}:{f.resolve()}" if f is not None else masked(url)


def study_args(study: str, url: str | None, studies_dir: str | Path = "studies") -> str:
    """The study as the commands take it, for a hint that works as printed: ``STUDY``, plus ``--storage URL``
    unless ``url`` is the default (``sqlite:///studies/<study>.db``). A password in the URL is masked."""
    if url is None or identity(url) == identity(default_url(studies_dir, study)):
        return shlex.quote(study)
    return shlex.join([study, "--storage", masked(url)])


def masked(url: str) -> str:
    """``url`` with any password masked, for messages."""
    import re

    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
