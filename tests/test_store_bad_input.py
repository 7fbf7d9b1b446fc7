"""Bad input gets a clear error naming what was wrong, and leaves the store byte-for-byte as it was."""

from __future__ import annotations

import datetime as dt
import sqlite3

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import eventkit as ek
from conftest import store_fingerprint


@pytest.fixture
def populated(store):
    store.append("acct-1", [ek.Event("Opened", {"owner": "ann", "amount": 0})], stream_type="account")
    store.append_frame(pd.DataFrame({"stream_id": ["acct-2"] * 3, "event_type": "Deposited", "amount": [1.0, 2.0, 3.0]}),
                       stream_type="account")
    return store


def frame(**cols) -> pd.DataFrame:
    base = {"stream_id": ["s1", "s2"], "event_type": ["Deposited", "Deposited"], "amount": [1.0, 2.0]}
    base.update(cols)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


class Weird:
    pass


BAD_APPENDS = {
    "missing stream_id column": (lambda s: s.append_frame(frame(stream_id=None)), ek.InvalidInput, "stream_id"),
    "null stream_id": (lambda s: s.append_frame(frame(stream_id=["s1", None])), ek.InvalidInput, "stream_id"),
    "empty stream_id": (lambda s: s.append("", ek.Event("X")), ek.InvalidInput, "stream_id"),
    "missing event_type column": (lambda s: s.append_frame(frame(event_type=None)), ek.InvalidInput, "event_type"),
    "null event_type": (lambda s: s.append_frame(frame(event_type=[None, "X"])), ek.InvalidInput, "event_type"),
    "null event_type in Event": (lambda s: s.append("s", ek.Event(None)), ek.InvalidInput, "event_type"),
    "unknown expected version": (lambda s: s.append("s", ek.Event("X"), expected_version="latest"), ek.InvalidInput, "expected_version"),
    "negative expected version": (lambda s: s.append("s", ek.Event("X"), expected_version=-3), ek.InvalidInput, "expected_version"),
    "type conflict in event": (lambda s: s.append("s", ek.Event("X", {"amount": "ten"})), ek.SchemaConflict, "amount"),
    "type conflict in frame": (lambda s: s.append_frame(frame(amount=["a", "b"])), ek.SchemaConflict, "amount"),
    "type conflict inside one append": (lambda s: s.append("s", [ek.Event("X", {"q": 1}), ek.Event("X", {"q": "1"})]), ek.SchemaConflict, "q"),
    "duplicate ids in batch": (lambda s: s.append_frame(frame(event_id=["e", "e"])), ek.DuplicateEventId, "'e'"),
    "duplicate ids in events": (lambda s: s.append("s", [ek.Event("X", event_id="e"), ek.Event("Y", event_id="e")]), ek.DuplicateEventId, "'e'"),
    "version goes backwards": (lambda s: s.append_frame(frame(stream_id=["s", "s"], version=[3, 2])), ek.InvalidInput, "version"),
    "version not above current": (lambda s: s.append_frame(frame(stream_id=["acct-2", "acct-2"], version=[2, 5])), ek.InvalidInput, "version"),
    "non-serialisable value": (lambda s: s.append("s", ek.Event("X", {"obj": Weird()})), ek.InvalidInput, "obj"),
    "nested value": (lambda s: s.append("s", ek.Event("X", {"tags": ["a", "b"]})), ek.InvalidInput, "tags"),
    "object column of mixed values": (lambda s: s.append_frame(frame(mixed=[1, Weird()])), ek.InvalidInput, "mixed"),
    "empty append": (lambda s: s.append("s", []), ek.InvalidInput, "at least one"),
    "empty frame": (lambda s: s.append_frame(frame().iloc[:0]), ek.InvalidInput, "no rows"),
    "position column": (lambda s: s.append_frame(frame(position=[1, 2])), ek.InvalidInput, "position"),
    "bad occurred_at text": (lambda s: s.append_frame(frame(occurred_at=["2024-01-01", "yesterday"])), ek.InvalidInput, "occurred_at"),
    "bad stream_type": (lambda s: s.append("s", ek.Event("X"), stream_type="a/b"), ek.InvalidInput, "stream_type"),
    "stream type change": (lambda s: s.append("acct-1", ek.Event("X"), stream_type="order"), ek.InvalidInput, "acct-1"),
    "envelope name as field": (lambda s: s.append("s", ek.Event("X", {"version": 3})), ek.InvalidInput, "version"),
    "metadata text not JSON": (lambda s: s.append_frame(pa.table({"stream_id": ["s"], "event_type": ["X"], "metadata": ["not json"]})), ek.InvalidInput, "metadata"),
    "not a frame": (lambda s: s.append_frame([{"stream_id": "s"}]), ek.InvalidInput, "DataFrame"),
    "not an Event": (lambda s: s.append("s", [{"event_type": "X"}]), ek.InvalidInput, "ek.Event"),
    "conflicting stream's version": (lambda s: s.append("acct-1", ek.Event("X"), expected_version=5), ek.WrongExpectedVersion, "acct-1"),
}


@pytest.mark.parametrize("case", sorted(BAD_APPENDS))
def test_bad_append_is_rejected_and_store_unchanged(populated, case):
    attempt, error, mention = BAD_APPENDS[case]
    before = store_fingerprint(populated.path)
    head = populated.head
    with pytest.raises(error) as err:
        attempt(populated)
    assert mention in str(err.value)
    assert isinstance(err.value, ek.EventKitError)
    assert store_fingerprint(populated.path) == before
    assert populated.head == head


def test_bulk_append_type_conflict_leaves_no_segment(tmp_path):
    s = ek.open_store(tmp_path / "s", bulk_threshold=1)
    s.append_frame(frame())
    before = store_fingerprint(s.path)
    with pytest.raises(ek.SchemaConflict, match="amount.*DOUBLE"):
        s.append_frame(frame(amount=["x", "y"]))
    assert store_fingerprint(s.path) == before


def test_invalid_input_carries_column_and_values(fresh_store):
    with pytest.raises(ek.SchemaConflict) as err:
        fresh_store.append("s", [ek.Event("X", {"amount": 1}), ek.Event("X", {"amount": "one"})])
    assert err.value.column == "amount" and "one" in err.value.values


def test_naive_timestamp_columns_mean_utc(fresh_store):
    fresh_store.append_frame(frame(occurred_at=[dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 1, 10)]))
    assert fresh_store.read_all()["occurred_at"].iloc[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC")


def test_nan_is_missing(fresh_store):
    fresh_store.append_frame(frame(amount=[np.nan, 2.0]))
    fresh_store.append("s", ek.Event("X", {"amount": float("nan")}))
    assert fresh_store.sql("SELECT count(data.amount) FROM events").fetchall() == [(1,)]


def test_integers_widen_to_double(fresh_store):
    fresh_store.append("s", ek.Event("X", {"amount": 1}))
    assert fresh_store.fields["amount"] == "BIGINT"
    fresh_store.append("s", ek.Event("X", {"amount": 2.5}))
    assert fresh_store.fields["amount"] == "DOUBLE"
    assert fresh_store.sql("SELECT sum(data.amount) FROM events").fetchall() == [(3.5,)]


# -- opening ------------------------------------------------------------------------------------


def test_path_that_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("hello")
    with pytest.raises(ek.StoreError, match="is a file"):
        ek.open_store(f)
    assert f.read_text() == "hello"


def test_folder_that_is_not_a_store(tmp_path):
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ek.StoreError, match="not an eventkit store"):
        ek.open_store(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


def test_store_from_a_newer_format(tmp_path):
    s = ek.open_store(tmp_path / "s")
    s.append("x", ek.Event("A"))
    s.close()
    con = sqlite3.connect(tmp_path / "s" / "catalog.sqlite")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    con.commit()
    con.close()
    before = store_fingerprint(tmp_path / "s")
    with pytest.raises(ek.StoreError, match="newer eventkit"):
        ek.open_store(tmp_path / "s")
    assert store_fingerprint(tmp_path / "s") == before


def test_catalog_that_is_not_sqlite(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "catalog.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(ek.StoreError):
        ek.open_store(tmp_path / "s")


def test_durability_must_be_known(tmp_path):
    with pytest.raises(ek.StoreError, match="durability"):
        ek.open_store(tmp_path / "s", durability="sometimes")
