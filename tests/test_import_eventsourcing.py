"""`eventkit import-eventsourcing`: an eventsourcing application's SQLite history, imported incrementally."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from click.testing import CliRunner

pytest.importorskip("eventsourcing")

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

import eventkit as ek  # noqa: E402
from eventkit.cli import cli  # noqa: E402
from eventkit.interop.import_eventsourcing import import_eventsourcing  # noqa: E402


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        pass


class Bank(Application):
    def open(self, owner: str) -> uuid.UUID:
        account = Account(owner)
        self.save(account)
        return account.id

    def deposit(self, account_id: uuid.UUID, amount: int) -> None:
        account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


@pytest.fixture
def bank(tmp_path):
    db = tmp_path / "bank.sqlite"
    app = Bank(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    yield app, db
    app.close()


def _stored(db) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                           "ORDER BY rowid").fetchall()


def test_import_then_reimport_brings_only_new_notifications(bank, tmp_path):
    """A re-run imports only what was recorded since; every event reads back as stored."""
    app, db = bank
    a = app.open("ann")
    app.deposit(a, 10)
    runner = CliRunner()
    store_path = tmp_path / "store"
    assert runner.invoke(cli, ["init", str(store_path)]).exit_code == 0
    first = runner.invoke(cli, ["import-eventsourcing", str(store_path), str(db)])
    assert first.exit_code == 0, first.output
    assert "imported 2 events" in first.output
    b = app.open("bob")
    app.deposit(a, 5)
    again = runner.invoke(cli, ["import-eventsourcing", str(store_path), str(db)])
    assert "imported 2 events" in again.output, again.output
    assert "imported 0 events" in runner.invoke(cli, ["import-eventsourcing", str(store_path), str(db)]).output
    with ek.open_store(store_path) as store:
        frame = store.read_all()
        assert list(frame["stream_id"]) == [str(a), str(a), str(b), str(a)]
        assert list(frame["version"]) == [2, 3, 2, 4]  # originator_version + 1
        rows = _stored(db)
        assert list(frame["state"]) == [r[4] for r in rows] and list(frame["event_type"]) == [r[3] for r in rows]
        assert store.checkpoint("eventsourcing-import") == rows[-1][0]


def test_decode_gives_typed_fields_and_occurred_at(bank, tmp_path):
    app, db = bank
    a = app.open("ann")
    app.deposit(a, 10)
    app.deposit(a, 32)
    with ek.open_store(tmp_path / "store") as store:
        result = import_eventsourcing(store, db, decode=True)
        assert result.events == 3
        assert store.sql("SELECT sum(data.amount), any_value(data.owner) FROM events").fetchall() == [(42, "ann")]
        stamps = store.read_stream(str(a))["occurred_at"]
        assert stamps.is_monotonic_increasing and (store.read_stream(str(a))["recorded_at"] >= stamps).all()


def test_a_run_stopped_half_way_resumes_without_duplicates(bank, tmp_path, monkeypatch):
    """Each batch commits with its checkpoint: a failure after the first batch loses nothing, doubles nothing."""
    app, db = bank
    ids = [app.open(f"o{i}") for i in range(5)]
    with ek.open_store(tmp_path / "store") as store:
        real = store.append_frame
        calls = []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise OSError("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(store, "append_frame", failing)
        with pytest.raises(OSError):
            import_eventsourcing(store, db, batch_size=2)
        assert store.head == 2
        monkeypatch.setattr(store, "append_frame", real)
        assert import_eventsourcing(store, db, batch_size=2).events == 3
        assert list(store.read_all()["stream_id"]) == [str(i) for i in ids]


def test_not_a_database_is_a_clean_error(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_text("hello")
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "s")])
    result = runner.invoke(cli, ["import-eventsourcing", str(tmp_path / "s"), str(bad)])
    assert result.exit_code == 1 and result.output.startswith("Error: cannot read table"), result.output
