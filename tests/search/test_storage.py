"""The storages a search opens: SQLite, the journal file with snnas's heartbeats, and one-line refusals."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from snnas.errors import SnnasError
from snnas.search import _storage
from snnas.search._storage import open_storage

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_journal_heartbeats_make_dead_trials_stale(tmp_path, monkeypatch):
    url = f"journal:///{tmp_path / 'j' / 'study.log'}"
    storage = open_storage(url, create=True)
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    beating, silent = study.ask(), study.ask()
    storage.record_heartbeat(beating._trial_id)
    assert storage._get_stale_trial_ids(study._study_id) == []  # both within the grace period
    monkeypatch.setattr(_storage, "GRACE_S", -1)
    assert sorted(storage._get_stale_trial_ids(study._study_id)) == [beating._trial_id, silent._trial_id]
    optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    # another process reading the same file sees the same study
    again = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
    assert [t.state for t in again.trials] == [TrialState.FAIL, TrialState.FAIL]


@pytest.mark.parametrize(("make", "url", "message"), [
    (None, "sqlite:///{d}/none.db", "no study database at"),
    (None, "journal:///{d}/none.log", "no study database at"),
    ("dir", "sqlite:///{d}/folder", "is a folder"),
    (b"SQLite format 3\x00" + b"\x00" * 100, "sqlite:///{d}/cut.db", "cannot read"),
    (b"not a database" * 400, "sqlite:///{d}/junk.db", "cannot read"),
    (b'{"op_code": 0, "worker_id": "w"\ngarbage\n{}\n', "journal:///{d}/torn.log", "cannot read"),
    (None, "redis://localhost/0", "--storage must be"),
])
def test_unreadable_storages_are_one_line_errors(tmp_path, make, url, message):
    url = url.format(d=tmp_path)
    path = _storage.storage_file(url)
    if make == "dir":
        path.mkdir()
    elif make is not None:
        path.write_bytes(make)
    before = path.read_bytes() if path is not None and path.is_file() else None
    with pytest.raises(SnnasError) as e:
        open_storage(url, create=False) if make != "dir" else open_storage(url, create=True)
    assert message in str(e.value) and "\n" not in str(e.value)
    if before is not None:
        assert path.read_bytes() == before  # refused, not repaired or overwritten



def test_a_new_database_stamped_by_another_opener_at_the_same_moment_still_opens(tmp_path, monkeypatch):
    """Another program opened the new file as an Optuna storage while snnas did, and wrote the version row
    after snnas read that there was none and before it inserted its own (CI: a test polling with
    ``optuna.load_study`` killed the search with ``UNIQUE constraint failed: alembic_version.version_num``)."""
    from alembic.runtime.migration import MigrationContext
    from optuna.storages._rdb.storage import _VersionManager

    url = f"sqlite:///{tmp_path / 'new.db'}"
    heads, stamp = MigrationContext.get_current_heads, _VersionManager._set_alembic_revision
    stamping, raced = [], []

    def stamp_once(self, revision):  # noqa: ANN001
        stamping.append(True)
        try:
            stamp(self, revision)
        finally:
            stamping.pop()

    def other_opener_in_between(self):  # noqa: ANN001
        found = heads(self)
        if stamping and not found and not raced:  # about to insert the version row: another opener does first
            raced.append(True)
            stamping.pop()
            optuna.storages.RDBStorage(url)
            stamping.append(True)
        return found

    monkeypatch.setattr(_VersionManager, "_set_alembic_revision", stamp_once)
    monkeypatch.setattr(MigrationContext, "get_current_heads", other_opener_in_between)
    storage = open_storage(url, create=True)
    assert raced == [True]
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    assert optuna.load_study(study_name="s", storage=url).directions == study.directions
