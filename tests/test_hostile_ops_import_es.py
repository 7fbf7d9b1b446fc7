"""`import-eventsourcing` against a database whose rows are not what eventsourcing writes (a hand-made
table, another tool's rows): each is refused naming the notification, or read back exactly."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli
from eventkit.interop.import_eventsourcing import import_eventsourcing

ID = uuid.UUID(int=7).hex


def _database(path, rows):
    with sqlite3.connect(path) as con:  # no column types: SQLite keeps each value as given
        con.execute("CREATE TABLE stored_events (originator_id, originator_version, topic, state)")
        con.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", rows)
    return path


@pytest.mark.parametrize("row, what", [
    ((None, 1, "t", b"{}"), "originator_id"),      # was stored as the stream 'None'
    ((b"\x00\x01", 1, "t", b"{}"), "originator_id"),  # was stored as the stream "b'\\x00\\x01'"
    ((ID, None, "t", b"{}"), "originator_version"),   # bare TypeError
    ((ID, "x", "t", b"{}"), "originator_version"),    # bare ValueError
    ((ID, 1.5, "t", b"{}"), "originator_version"),    # silently stored as version 2
    ((ID, 2**63 - 1, "t", b"{}"), "originator_version"),  # bare OverflowError
    ((ID, 1, "t", 5), "state"),                        # stored as five NUL bytes
    ((ID, 1, "t", 1.5), "state"),                      # bare TypeError
])
def test_a_row_eventsourcing_would_not_write_is_refused_naming_its_notification(tmp_path, row, what):
    db = _database(tmp_path / "app.sqlite", [(ID, 0, "t", b"{}"), row])
    store = ek.open_store(tmp_path / "store")
    before = store_fingerprint(store.path)
    with pytest.raises(ek.InvalidInput, match=f"{what}.*notification 2"):
        import_eventsourcing(store, db, batch_size=10)
    assert store_fingerprint(store.path) == before
    result = CliRunner().invoke(cli, ["import-eventsourcing", str(store.path), str(db)])
    assert result.exit_code != 0 and f"{what}" in result.output and "Traceback" not in result.output
    assert store_fingerprint(store.path) == before


def test_text_and_null_states_and_big_versions_read_back(tmp_path):
    db = _database(tmp_path / "app.sqlite", [(ID, 0, "t", "héllo"), (ID, 1, "t", None), (ID, 2**62 - 2, "t", b"")])
    store = ek.open_store(tmp_path / "store")
    assert import_eventsourcing(store, db).events == 3
    got = store.read_stream(str(uuid.UUID(ID)), output="records")
    assert [r.version for r in got] == [1, 2, 2**62 - 1]
    assert [r.data.get("state") for r in got] == ["héllo".encode(), None, b""]
