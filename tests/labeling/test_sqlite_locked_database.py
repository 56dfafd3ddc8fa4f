"""SQLite as ``make run`` configures it (daphne + one db_worker on one file): a vote never meets "database is
locked" because another writer is busy, and a background task that does is run again rather than failed."""

from __future__ import annotations

import runpy
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connections, transaction

from labeling import consensus

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "config" / "settings.py"
ALIAS = "make_run_sqlite"


def make_run_database_settings(monkeypatch, path: Path) -> dict:
    """The DATABASES entry config/settings.py builds for a SQLite file, as under ``make run``."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    return runpy.run_path(str(SETTINGS_FILE))["DATABASES"]["default"]


@pytest.fixture
def sqlite_alias(monkeypatch, tmp_path, django_db_blocker):
    """A second database alias on a fresh SQLite file configured by the settings; every thread that uses it gets
    its own connection, as daphne's request threads and the worker do."""
    entry = make_run_database_settings(monkeypatch, tmp_path / "blink.sqlite3")
    assert entry["ENGINE"] == "django.db.backends.sqlite3"
    configured = connections.configure_settings({"default": connections.settings["default"], ALIAS: entry})
    connections.settings[ALIAS] = configured[ALIAS]
    with django_db_blocker.unblock():
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("CREATE TABLE vote (id INTEGER PRIMARY KEY, subject INTEGER NOT NULL)")
        try:
            yield ALIAS
        finally:
            connections[ALIAS].close()
            del connections.settings[ALIAS]
            if hasattr(connections._connections, ALIAS):
                delattr(connections._connections, ALIAS)


def stored_votes(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM vote")
        return cursor.fetchone()[0]


def test_a_vote_that_read_before_writing_waits_for_the_other_writer_instead_of_failing(sqlite_alias):
    # The vote's transaction reads its subject, then inserts. Meanwhile the worker (or another request) writes.
    read_done, other_done = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def other_writer() -> None:
        try:
            read_done.wait(5)
            with transaction.atomic(using=sqlite_alias):
                connections[sqlite_alias].cursor().execute("INSERT INTO vote (subject) VALUES (2)")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            other_done.set()
            connections[sqlite_alias].close()

    worker = threading.Thread(target=other_writer)
    worker.start()
    try:
        with transaction.atomic(using=sqlite_alias), connections[sqlite_alias].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM vote WHERE subject = 1")
            read_done.set()
            # Give the other writer its chance to go first; if it queues behind us, go on after a while.
            other_done.wait(1.0)
            cursor.execute("INSERT INTO vote (subject) VALUES (1)")
    except OperationalError as exc:
        errors.append(exc)
    worker.join(10)
    assert [str(e) for e in errors] == []
    assert stored_votes(sqlite_alias) == 2


def test_many_writers_at_once_all_store_their_rows(sqlite_alias):
    errors: list[Exception] = []

    def writer(subject: int) -> None:
        try:
            for _ in range(20):
                with transaction.atomic(using=sqlite_alias), connections[sqlite_alias].cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM vote WHERE subject = %s", [subject])
                    time.sleep(0.002)  # the request's own work between its read and its write
                    cursor.execute("INSERT INTO vote (subject) VALUES (%s)", [subject])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections[sqlite_alias].close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [str(e) for e in errors] == []
    assert stored_votes(sqlite_alias) == 6 * 20


def test_a_consensus_task_that_meets_a_locked_database_runs_again(monkeypatch):
    calls = []

    def recompute(campaign_id):
        calls.append(campaign_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return consensus.ConsensusReport(campaign_id, n_votes=3, n_subjects=2, n_volunteers=2, n_changed=1)

    monkeypatch.setattr(consensus, "recompute_consensus", recompute)
    monkeypatch.setattr("core.db_retry.time.sleep", lambda s: None)
    result = consensus.recompute_consensus_task.call(campaign_id=7)
    assert calls == [7, 7]
    assert result["n_changed"] == 1


def test_a_task_that_fails_for_another_reason_is_not_run_again(monkeypatch):
    calls = []

    def recompute(campaign_id):
        calls.append(campaign_id)
        raise OperationalError("no such table: labeling_vote")

    monkeypatch.setattr(consensus, "recompute_consensus", recompute)
    monkeypatch.setattr("core.db_retry.time.sleep", lambda s: None)
    with pytest.raises(OperationalError, match="no such table"):
        consensus.recompute_consensus_task.call(campaign_id=7)
    assert calls == [7]
