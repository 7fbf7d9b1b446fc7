"""`import-eventsourcing --decode` against states a real application writes: the same field name with
another type or case in another event type, text no UTF-8 store holds. The import completes (the
state bytes are always kept exactly), gives the same fields whatever the batch size, and says which
decoded values it left out."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli
from eventkit.interop.import_eventsourcing import import_eventsourcing


def _database(path, states: list[tuple[str, bytes]]):
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                    "state BLOB, PRIMARY KEY (originator_id, originator_version))")
        con.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                        [(uuid.UUID(int=i).hex, 1, topic, state) for i, (topic, state) in enumerate(states)])
    return path


STATES = [
    ("shop:Order.Placed", json.dumps({"value": "gold", "Amount": 1, "flag": True}).encode()),
    ("shop:Order.Paid", json.dumps({"value": 5, "amount": 2, "flag": 1, "total": 3}).encode()),
    ("shop:Order.Refunded", json.dumps({"value": 2.5, "total": 1.5, "note": "x"}).encode()),
    ("shop:Order.Noted", b'{"note": "\\ud800", "total": 4}'),  # a lone surrogate: JSON allows it, UTF-8 does not
]


@pytest.mark.parametrize("batch_size", [1, 2, 10])
def test_decode_completes_the_same_whatever_the_batch_size(tmp_path, batch_size):
    db = _database(tmp_path / "app.sqlite", STATES)
    with ek.open_store(tmp_path / "s") as store:
        result = import_eventsourcing(store, db, decode=True, batch_size=batch_size)
        assert result.events == 4 and store.head == 4
        assert import_eventsourcing(store, db, decode=True, batch_size=batch_size).events == 0
        events = store.read_all()
        fields = store.fields
    got = {c: [None if pd.isna(v) else v for v in events[c]] for c in events.columns if c != "metadata"}
    assert events["state"].tolist() == [s for _, s in STATES]  # the states, byte for byte
    assert fields["value"] == "VARCHAR" and got["value"] == ["gold", "5", "2.5", None]
    assert fields["total"] == "DOUBLE" and got["total"][1:] == [3.0, 1.5, 4.0]
    assert got["Amount"][0] == 1 and "amount" not in fields
    assert fields["flag"] == "BOOLEAN" and got["flag"][0] == True  # noqa: E712 (numpy bool)
    assert got["note"][2:] == ["x", None]
    assert result.left_out == {"amount": 1, "flag": 1, "note": 1}


def test_the_cli_says_what_it_left_out(tmp_path):
    db = _database(tmp_path / "app.sqlite", STATES)
    ek.open_store(tmp_path / "s").close()
    out = CliRunner().invoke(cli, ["import-eventsourcing", str(tmp_path / "s"), str(db), "--decode"])
    assert out.exit_code == 0, out.output
    assert "imported 4 events" in out.output
    assert "amount (1)" in out.output and "flag (1)" in out.output and "state" in out.output


def test_states_sqlite_holds_as_text_or_null_import_as_they_are(tmp_path):
    """SQLite keeps any type in a BLOB column: a state written as text, or NULL, raised a TypeError on every run."""
    db = _database(tmp_path / "app.sqlite", [("a:Text", '{"n": 1}'), ("a:Null", None), ("a:Blob", b"\x00")])
    with ek.open_store(tmp_path / "s") as store:
        assert import_eventsourcing(store, db, decode=True).events == 3
        events = store.read_all()
    assert events["state"].tolist() == [b'{"n": 1}', None, b"\x00"]
    assert events["n"].tolist()[0] == 1


def test_a_text_state_that_is_not_utf8_keeps_its_bytes(tmp_path):
    db = _database(tmp_path / "app.sqlite", [("a:Blob", b"\x00")])
    with sqlite3.connect(db) as con:  # text whose bytes are not UTF-8, as a C program might write it
        con.execute("INSERT INTO stored_events VALUES ('x', 1, 'a:Text', CAST(X'FF00' AS TEXT))")
    with ek.open_store(tmp_path / "s") as store:
        assert import_eventsourcing(store, db).events == 2
        assert store.read_all()["state"].tolist() == [b"\x00", b"\xff\x00"]


@pytest.mark.parametrize("declaration", [{"stream_type": "eventsourcing", "fields": ["owner"]},
                                         {"event_type": "bank:Account.Opened", "fields": ["owner"]}])
def test_an_import_into_events_declared_personal_is_refused(tmp_path, declaration):
    """The states are stored as bytes, and a decoded personal field's value is also inside them in plain
    text: forget erased the typed field, the state still held the owner's name. Refused, nothing stored."""
    db = _database(tmp_path / "app.sqlite", [("bank:Account.Opened", json.dumps({"owner": "Ann"}).encode())])
    with ek.open_store(tmp_path / "s") as store:
        store.declare_personal(**declaration)
        for decode in (True, False):
            with pytest.raises(ek.InvalidInput, match="personal"):
                import_eventsourcing(store, db, decode=decode)
        assert store.head == 0 and store.checkpoint("eventsourcing-import") is None
        store.declare_personal(stream_type="other", fields=["owner"])  # declarations elsewhere do not matter
