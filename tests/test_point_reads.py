"""Operational reads: a stream's newest events, a page of the log, as records or frames, in every storage mode."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import eventkit as ek


def _fill(store: ek.Store) -> None:
    for i in range(1, 6):
        store.append("a", ek.Event("Deposited", {"amount": i, "note": f"n{i}"}), stream_type="account")
        store.append("b", ek.Event("Opened" if i == 1 else "Deposited", {"amount": 10 * i}), stream_type="account")


def test_read_stream_limit_backwards_records_and_frames(store):
    """read_stream takes limit; backwards+limit gives the newest events; records match the frame."""
    _fill(store)
    newest = store.read_stream("a", backwards=True, limit=1, output="records")
    assert [(e.version, e.data) for e in newest] == [(5, {"amount": 5, "note": "n5"})]
    two = store.read_stream("a", from_version=2, limit=2, output="records")
    assert [e.version for e in two] == [2, 3]
    assert [e.version for e in store.read_stream("a", to_version=4, backwards=True, limit=2, output="records")] == [4, 3]
    frame = store.read_stream("a", backwards=True, limit=2)
    assert list(frame["version"]) == [5, 4]
    rec = store.read_stream("a", output="records")
    assert [(e.position, e.event_id, e.stream_type, e.event_type) for e in rec] == list(
        store.read_stream("a")[["position", "event_id", "stream_type", "event_type"]].itertuples(index=False, name=None))
    assert all(e.recorded_at.tzinfo is not None and e.metadata is None for e in rec)
    assert store.read_stream("nope", output="records") == []


def test_read_all_page_records_and_frames(store):
    """read_all(from_position, limit) pages the log in position order, the same in records and frames."""
    _fill(store)
    page = store.read_all(from_position=3, limit=4, output="records")
    assert [e.position for e in page] == [3, 4, 5, 6]
    assert list(store.read_all(from_position=3, limit=4)["position"]) == [3, 4, 5, 6]
    assert [e.position for e in store.read_all(from_position=9, output="records")] == [9, 10]
    only = store.read_all(from_position=1, limit=2, event_types=["Opened"], output="records")
    assert [(e.stream_id, e.event_type) for e in only] == [("b", "Opened")]
    assert store.read_all(from_position=11, limit=3, output="records") == []


def test_records_keep_payload_types(store):
    """Records give back the values appended: bytes, times, dates, floats, metadata."""
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    store.append("s", ek.Event("E", {"blob": b"\x00\xffx", "at": when, "day": dt.date(2024, 5, 2), "x": 1.5},
                               metadata={"correlation_id": "c1"}, occurred_at=when))
    [e] = store.read_stream("s", output="records")
    assert e.data == {"blob": b"\x00\xffx", "at": when, "day": dt.date(2024, 5, 2), "x": 1.5}
    assert isinstance(e.data["blob"], bytes)
    assert e.metadata == {"correlation_id": "c1"} and e.occurred_at == when


def test_read_all_limit_reads_only_the_rows_it_returns(tmp_path):
    """A page of a large hot log loads only `limit` hot rows into the snapshot (cost grows with limit)."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=10**9)
    store.append_frame(pd.DataFrame({"stream_id": [f"s{i % 7}" for i in range(3000)], "event_type": "E", "n": range(3000)}))
    from eventkit.store import read_snapshot

    seen = []
    real = read_snapshot.read_snapshot

    def spy(*args, **kwargs):
        snap = real(*args, **kwargs)
        seen.append(snap.hot.num_rows)
        return snap

    import eventkit.store.store_reads as es

    es.read_snapshot, saved = spy, es.read_snapshot
    try:
        assert list(store.read_all(from_position=1, limit=10)["n"]) == list(range(10))
    finally:
        es.read_snapshot = saved
    assert seen == [10]


def test_bad_limit_is_refused(store):
    with pytest.raises(ek.InvalidInput, match="limit"):
        store.read_stream("a", limit=-1)
    with pytest.raises(ek.InvalidInput, match="limit"):
        store.read_all(limit="10", output="records")


def test_records_agree_with_frames_across_hot_log_and_segments(tmp_path):
    """A stream whose events lie in the hot log, a bulk segment, a sealed segment and the hot log again:
    every combination of range, direction and limit gives the events the analytical path gives."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=50)
    store.append("a", [ek.Event("E", {"n": i}) for i in range(3)])          # hot: versions 1-3
    store.append_frame(pd.DataFrame({"stream_id": ["a"] * 60 + ["b"] * 60, "event_type": "F", "n": range(120)}))
    store.append("a", [ek.Event("G", {"n": 1})])                             # hot: version 64
    store.seal()                                                             # versions 1-3 and 64 sealed
    store.append("a", [ek.Event("H", {"n": 2, "blob": b"\x01"})])          # hot: version 65
    store.append_frame(pd.DataFrame({"stream_id": ["a"] * 60, "event_type": "F", "n": range(60)}))  # 66-125
    assert store.info().segments == 3
    for backwards in (False, True):
        for limit in (None, 1, 2, 5, 70):
            for lo, hi in ((None, None), (2, None), (None, 64), (60, 70), (64, 64)):
                frame = store.read_stream("a", from_version=lo, to_version=hi, backwards=backwards, limit=limit)
                recs = store.read_stream("a", from_version=lo, to_version=hi, backwards=backwards, limit=limit,
                                         output="records")
                assert [r.version for r in recs] == list(frame["version"]), (backwards, limit, lo, hi)
                assert [r.position for r in recs] == list(frame["position"])
    [newest] = store.read_stream("a", backwards=True, limit=1, output="records")
    assert newest.version == 125 and newest.data == {"n": 59}
    assert store.read_stream("a", from_version=65, limit=1, output="records")[0].data == {"n": 2, "blob": b"\x01"}
