"""Bad input gets a clear error naming what was wrong, and leaves the store byte-for-byte as it was."""

from __future__ import annotations

import datetime as dt
import decimal
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


PLUS5 = dt.timezone(dt.timedelta(hours=5))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))


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
    "version not above current": (lambda s: s.append_frame(frame(stream_id=["acct-2", "acct-2"], version=[2, 5])), ek.VersionTaken, "version"),
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
    # Issue 7: inputs that were once accepted and then broke every read, or crashed.
    "lone surrogate in payload": (lambda s: s.append("s", ek.Event("X", {"note": "a\ud800"})), ek.InvalidInput, "surrogate"),
    "lone surrogate in metadata key": (lambda s: s.append("s", ek.Event("X", metadata={"\ud800": "v"})), ek.InvalidInput, "metadata key"),
    "lone surrogate in metadata value": (lambda s: s.append("s", ek.Event("X", metadata={"k": "\udfff"})), ek.InvalidInput, "metadata value"),
    "lone surrogate in frame metadata": (lambda s: s.append_frame(frame(metadata=[{"k": "\ud800"}, None])), ek.InvalidInput, "surrogate"),
    "lone surrogate in stream id": (lambda s: s.append("\ud800", ek.Event("X")), ek.InvalidInput, "stream_id"),
    "lone surrogate in event id": (lambda s: s.append("s", ek.Event("X", event_id="\ud800")), ek.InvalidInput, "event_id"),
    "lone surrogate in frame column": (lambda s: s.append_frame(frame(stream_id=pd.Series(["s", "\ud800"], dtype=object))), ek.InvalidInput, "stream_id"),
    "field differing only in case": (lambda s: s.append("s", ek.Event("X", {"Amount": 1})), ek.InvalidInput, "'amount'"),
    "frame field differing only in case": (lambda s: s.append_frame(frame(Amount=[1.0, 2.0])), ek.InvalidInput, "'amount'"),
    "case-only names in one append": (lambda s: s.append("s", [ek.Event("X", {"q": 1}), ek.Event("X", {"Q": 1})]), ek.InvalidInput, "'q'"),
    "NUL in stream id": (lambda s: s.append("a\x00b", ek.Event("X")), ek.InvalidInput, "NUL"),
    "NUL in event id": (lambda s: s.append("s", ek.Event("X", event_id="e\x00")), ek.InvalidInput, "NUL"),
    "NUL in event type": (lambda s: s.append("s", ek.Event("X\x00")), ek.InvalidInput, "NUL"),
    "NUL in frame stream id": (lambda s: s.append_frame(frame(stream_id=["s", "t\x00"])), ek.InvalidInput, "NUL"),
    "NUL in frame event id": (lambda s: s.append_frame(frame(event_id=["e\x00", "f"])), ek.InvalidInput, "NUL"),
    "NUL in stream_type": (lambda s: s.append("s", ek.Event("X"), stream_type="acct\x00"), ek.InvalidInput, "stream_type"),
    "trailing newline in stream_type": (lambda s: s.append("s", ek.Event("X"), stream_type="acct\n"), ek.InvalidInput, "stream_type"),
    "trailing newline in frame stream_type": (lambda s: s.append_frame(frame(stream_type=["acct\n", "acct\n"])), ek.InvalidInput, "stream_type"),
    "trailing newline in field name": (lambda s: s.append("s", ek.Event("X", {"amount\n": 1})), ek.InvalidInput, "amount"),
    "trailing newline in frame column": (lambda s: s.append_frame(frame(**{"note\n": ["a", "b"]})), ek.InvalidInput, "note"),
    "empty occurred_at in event": (lambda s: s.append("s", ek.Event("X", occurred_at="")), ek.InvalidInput, "occurred_at"),
    "empty occurred_at in frame": (lambda s: s.append_frame(frame(occurred_at=["2024-01-01", ""])), ek.InvalidInput, "occurred_at"),
    "nanoseconds in frame occurred_at": (lambda s: s.append_frame(frame(occurred_at=pd.to_datetime(["2024-01-01T00:00:00.000000000", "2024-01-01T00:00:00.000000001"]))), ek.InvalidInput, "nanoseconds"),
    "nanoseconds in frame payload": (lambda s: s.append_frame(frame(t=np.array(["2024-01-01T00:00:00.000000001"] * 2, dtype="datetime64[ns]"))), ek.InvalidInput, "nanoseconds"),
    "nanoseconds in event payload": (lambda s: s.append("s", ek.Event("X", {"t": pd.Timestamp("2024-01-01 00:00:00.000000001")})), ek.InvalidInput, "nanoseconds"),
    "timedelta64 payload": (lambda s: s.append("s", ek.Event("X", {"d": np.timedelta64(5, "s")})), ek.InvalidInput, "duration"),
    "timedelta payload": (lambda s: s.append("s", ek.Event("X", {"d": dt.timedelta(seconds=5)})), ek.InvalidInput, "duration"),
    "year 1 at +05:00 as payload": (lambda s: s.append("s", ek.Event("X", {"t": dt.datetime(1, 1, 1, tzinfo=PLUS5)})), ek.InvalidInput, "years 1-9999"),
    "year 9999 at -05:00 as payload": (lambda s: s.append("s", ek.Event("X", {"t": dt.datetime(9999, 12, 31, 23, tzinfo=MINUS5)})), ek.InvalidInput, "years 1-9999"),
    "year 1 at +05:00 as occurred_at": (lambda s: s.append("s", ek.Event("X", occurred_at=dt.datetime(1, 1, 1, tzinfo=PLUS5))), ek.InvalidInput, "occurred_at"),
    "year 9999 at -05:00 as occurred_at": (lambda s: s.append("s", ek.Event("X", occurred_at=dt.datetime(9999, 12, 31, 23, tzinfo=MINUS5))), ek.InvalidInput, "occurred_at"),
    "Decimal too large for a double": (lambda s: s.append("s", ek.Event("X", {"amount": decimal.Decimal("1e400")})), ek.InvalidInput, "amount"),
    "signalling NaN": (lambda s: s.append("s", ek.Event("X", {"amount": decimal.Decimal("sNaN")})), ek.InvalidInput, "amount"),
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


BAD_READS = {
    "negative limit": (lambda s: s.read_all(limit=-1), "limit"),
    "from_position beyond 64 bits": (lambda s: s.read_all(from_position=2**63), "from_position"),
    "to_position beyond 64 bits": (lambda s: s.read_all(to_position=2**64), "to_position"),
    "known_at beyond 64 bits": (lambda s: s.read_all(known_at=2**63), "known_at"),
    "from_version beyond 64 bits": (lambda s: s.read_stream("acct-1", from_version=2**63), "from_version"),
    "occurred_between not a pair": (lambda s: s.read_all(occurred_between="2024"), "occurred_between"),
    "occurred_between of three": (lambda s: s.read_all(occurred_between=(None, None, None)), "occurred_between"),
    "recorded_between not a pair": (lambda s: s.read_all(recorded_between=5), "recorded_between"),
    "known_at year 1 at +05:00": (lambda s: s.read_all(known_at=dt.datetime(1, 1, 1, tzinfo=PLUS5)), "known_at"),
    "occurred_between year 9999 at -05:00": (
        lambda s: s.read_all(occurred_between=(None, dt.datetime(9999, 12, 31, 23, tzinfo=MINUS5))), "occurred_at"),
}


@pytest.mark.parametrize("case", sorted(BAD_READS))
def test_bad_read_arguments_are_invalid_input(populated, case):
    """Issue 7 item 14: read arguments eventkit cannot use give InvalidInput, not a raw DuckDB/SQLite error."""
    attempt, mention = BAD_READS[case]
    with pytest.raises(ek.InvalidInput, match=mention):
        attempt(populated)


def test_booleans_go_through_every_append_path(tmp_path):
    """Issue 7 item 6: a bool column (small frame, bulk frame) is stored as BOOLEAN and reads back."""
    for bulk in (10**9, 1):
        s = ek.open_store(tmp_path / f"s{bulk}", bulk_threshold=bulk)
        s.append("a", ek.Event("X", {"ok": True}))
        s.append_frame(pd.DataFrame({"stream_id": ["b", "c"], "event_type": "X", "ok": [False, True]}))
        assert s.fields["ok"] == "BOOLEAN"
        assert s.read_all()["ok"].tolist() == [True, False, True]
        s.seal()
        assert s.sql("SELECT list(data.ok ORDER BY position) FROM events").fetchall() == [([True, False, True],)]


def test_infinity_is_a_number_on_every_append_path(tmp_path):
    """Issue 7 item 14: +-inf (float or Decimal) reads back as inf on every path; NaN means missing."""
    inf = float("inf")
    for bulk in (10**9, 1):
        s = ek.open_store(tmp_path / f"s{bulk}", bulk_threshold=bulk)
        s.append("a", [ek.Event("X", {"x": inf}), ek.Event("X", {"x": decimal.Decimal("-Infinity")}),
                       ek.Event("X", {"x": decimal.Decimal("NaN")})])
        s.append_frame(pd.DataFrame({"stream_id": ["b", "b"], "event_type": "X", "x": [-inf, inf]}))
        for _ in range(2):
            assert s.read_all()["x"].tolist()[:2] == [inf, -inf]
            assert s.read_all()["x"].tolist()[3:] == [-inf, inf]
            assert s.sql("SELECT count(data.x) FROM events").fetchall() == [(4,)]
            s.seal()


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
