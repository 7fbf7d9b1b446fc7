"""Appends an application makes: bytes payloads, explicit versions, several streams at once."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

import eventkit as ek
from conftest import store_fingerprint


def test_bytes_payload_round_trips_exactly(store):
    """Bytes read back as the same bytes (BLOB in SQL) from every storage mode and every read."""
    blobs = [b"\x00\xff{}\n", b"", bytes(range(256))]
    store.append("a", [ek.Event("E", {"state": b}) for b in blobs])
    store.append_frame(pd.DataFrame({"stream_id": ["b"], "event_type": ["E"], "state": [b"frame\x00"]}))
    store.append_frame(pa.table({"stream_id": ["c"], "event_type": ["E"], "state": pa.array([b"\x01"], pa.binary())}))
    frame = store.read_all()
    assert list(frame["state"]) == blobs + [b"frame\x00", b"\x01"]
    assert all(type(v) is bytes for v in frame["state"])
    assert [e.data["state"] for e in store.read_all(output="records")] == blobs + [b"frame\x00", b"\x01"]
    assert store.fields["state"] == "BLOB"
    assert store.sql("SELECT typeof(data.state) FROM events LIMIT 1").fetchall() == [("BLOB",)]


def test_bytes_and_text_do_not_mix(store):
    store.append("a", ek.Event("E", {"state": b"x"}))
    with pytest.raises(ek.SchemaConflict, match="BLOB"):
        store.append("a", ek.Event("E", {"state": "x"}))


def test_explicit_version_clash_is_a_wrong_expected_version(store):
    """A version another append took raises WrongExpectedVersion (VersionTaken), store unchanged."""
    store.append("a", [ek.Event("E", version=1), ek.Event("E", version=2)])
    before = store_fingerprint(store.path)
    with pytest.raises(ek.WrongExpectedVersion, match="version 2 of stream 'a'") as err:
        store.append("a", ek.Event("E", version=2))
    assert isinstance(err.value, ek.VersionTaken) and err.value.actual == 2
    with pytest.raises(ek.VersionTaken):
        store.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": ["E"], "version": [1]}))
    assert store_fingerprint(store.path) == before
    assert store.append("a", ek.Event("E", version=5)).version == 5  # gaps are allowed


def test_explicit_versions_all_or_none(fresh_store):
    with pytest.raises(ek.InvalidInput, match="every event gives a version or none"):
        fresh_store.append("a", [ek.Event("E", version=1), ek.Event("E")])
    with pytest.raises(ek.InvalidInput, match="increase strictly"):
        fresh_store.append("a", [ek.Event("E", version=2), ek.Event("E", version=2)])
    with pytest.raises(ek.InvalidInput, match="version"):
        fresh_store.append("a", ek.Event("E", version=0))
    assert fresh_store.head == 0


def test_append_streams_keeps_order_and_checks_each_stream(store):
    """Several streams in one atomic append, with per-stream expected versions, in the order given."""
    store.append("a", ek.Event("E"))
    r = store.append_streams([("b", ek.Event("X")), ("a", ek.Event("Y")), ("b", ek.Event("Z"))],
                             expected_versions={"a": 1, "b": ek.NO_STREAM})
    assert r.versions == {"a": 2, "b": 2}
    assert list(store.read_all(from_position=2)["event_type"]) == ["X", "Y", "Z"]
    before = store_fingerprint(store.path)
    with pytest.raises(ek.WrongExpectedVersion):
        store.append_streams({"a": ek.Event("Q"), "c": ek.Event("Q")}, expected_versions={"a": 1})
    assert store_fingerprint(store.path) == before
