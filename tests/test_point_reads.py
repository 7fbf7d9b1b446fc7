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


# -- sealed point reads: row groups, segments, compaction, privacy, integrity ---------------------------


@pytest.fixture
def small_row_groups(monkeypatch):
    """Segments written from now on have row groups of 2,048 rows (DuckDB's smallest), so that a
    stream of a few thousand events spans several of them."""
    from eventkit.store import segment_files

    monkeypatch.setattr(segment_files, "ROW_GROUP_SIZE", 2048)


def _frame(streams: str, per: int, start: int) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [s for _ in range(per) for s in streams], "event_type": "E",
                         "n": range(start, start + per * len(streams))})


def _all_reads_agree(store: ek.Store, stream_id: str, top: int) -> None:
    """Records of every range, direction and limit are the matching slice of the stream's frame."""
    full = store.read_stream(stream_id)
    assert list(full["version"]) == list(range(1, top + 1))
    rows = list(full[["version", "position", "n"]].itertuples(index=False, name=None))
    for backwards in (False, True):
        for limit in (None, 0, 1, 3, 700, 2100, top + 5):
            for lo, hi in ((None, None), (2, None), (None, top - 3), (500, 1300), (top, top), (top + 1, None)):
                want = [r for r in rows if (lo is None or r[0] >= lo) and (hi is None or r[0] <= hi)]
                want = (want[::-1] if backwards else want)[:limit]
                recs = store.read_stream(stream_id, from_version=lo, to_version=hi, backwards=backwards, limit=limit,
                                         output="records")
                assert [(r.version, r.position, r.data["n"]) for r in recs] == want, (stream_id, backwards, limit, lo, hi)
    frame = store.read_stream(stream_id, from_version=500, backwards=True, limit=700)
    assert list(frame["version"]) == list(range(top, top - 700, -1))


def test_sealed_records_across_row_groups_segments_and_compaction(tmp_path, small_row_groups):
    """Streams spread over several row groups of several segments (bulk and sealed), then over a
    compaction's output, then mixed with the hot log: every range, direction and limit (0 included)
    reads what the frame reads."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=2000, auto_compact=False)
    store.append_frame(_frame("abcde", 600, 0))                      # a bulk segment: 2 row groups
    store.append_frame(_frame("abcde", 300, 10_000))                 # hot log ...
    store.seal()                                                     # ... sealed
    store.append_frame(_frame("abcde", 600, 20_000))                 # a bulk segment
    assert store.info().segments == 3
    _all_reads_agree(store, "d", 1500)  # d's rows cross the row-group boundary of the bulk segments
    store.compact()
    assert store.info().segments == 1
    store.append("c", [ek.Event("E", {"n": 90_000 + i}) for i in range(3)])  # c: versions 1501-1503 in the hot log
    _all_reads_agree(store, "c", 1503)
    [newest] = store.read_stream("c", backwards=True, limit=1, output="records")
    assert (newest.version, newest.data) == (1503, {"n": 90_002})
    assert store.read_stream("zz", backwards=True, limit=1, output="records") == []


def test_sealed_newest_event_reads_one_row_group(tmp_path, small_row_groups, monkeypatch):
    """The newest event of a stream that fills many row groups decodes one row group, not the stream's
    all: the read's cost follows ``limit``, not the size of the stream or the store."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(pd.DataFrame({"stream_id": ["a"] * 10_000 + ["b"] * 500, "event_type": "E", "n": range(10_500)}))
    import pyarrow.parquet as pq

    decoded: list[int] = []
    real = pq.ParquetFile.read_row_groups

    def spy(self, groups, *args, **kwargs):
        table = real(self, groups, *args, **kwargs)
        decoded.append(table.num_rows)
        return table

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    [e] = store.read_stream("a", backwards=True, limit=1, output="records")
    assert (e.version, e.data["n"]) == (10_000, 9_999)
    assert sum(decoded) <= 2048, decoded
    decoded.clear()
    assert [e.version for e in store.read_stream("a", limit=3, output="records")] == [1, 2, 3]
    assert sum(decoded) <= 2048, decoded
    decoded.clear()
    assert [e.version for e in store.read_stream("a", backwards=True, limit=2500, output="records")] == list(
        range(10_000, 7_500, -1))
    assert sum(decoded) <= 3 * 2048, decoded
    decoded.clear()
    assert len(store.read_stream("a", output="records")) == 10_000


def test_limit_zero_reads_nothing(store):
    """limit=0 is a valid limit: no events, in every storage mode and both directions."""
    _fill(store)
    for backwards in (False, True):
        assert store.read_stream("a", limit=0, backwards=backwards, output="records") == []
        assert len(store.read_stream("a", limit=0, backwards=backwards)) == 0
    assert store.read_all(from_position=1, limit=0, output="records") == []


def test_records_reveal_personal_fields_and_leave_out_erased_ones(store):
    """Records show a personal field as the text appended (never the stored token), in the hot log and in
    segments; after ``forget`` the field is left out and the record says it was erased, as frames do."""
    store.declare_personal(stream_type="customer", fields=["email"], subject="stream_id")
    store.append("c-1", ek.Event("Registered", {"email": "ann@example.com", "n": 1}), stream_type="customer")
    store.append("c-2", ek.Event("Registered", {"email": "bob@example.com", "n": 2}), stream_type="customer")
    for recs in (store.read_stream("c-1", output="records"),
                 store.read_stream("c-1", backwards=True, limit=1, output="records"),
                 store.read_all(from_position=1, limit=1, output="records")):
        assert [(e.data, e.erased) for e in recs] == [({"email": "ann@example.com", "n": 1}, False)]
    store.forget("c-1")
    assert store.read_stream("c-1")["erased"].tolist() == [True]
    for recs in (store.read_stream("c-1", output="records"), store.read_all(from_position=1, limit=1, output="records"),
                 store.read_stream("c-1", known_at=store.head, output="records")):  # the last: the analytical path
        assert [(e.data, e.erased) for e in recs] == [({"n": 1}, True)]
    [bob] = store.read_stream("c-2", backwards=True, limit=1, output="records")
    assert (bob.data, bob.erased) == ({"email": "bob@example.com", "n": 2}, False)


def test_sealed_records_refuse_a_modified_segment_file(tmp_path):
    """A point read of sealed events checks each segment file against its recorded hash, as every other
    read does: a changed file is refused, never read."""
    from pathlib import Path

    path = tmp_path / "s"
    store = ek.open_store(path)
    store.append("a", [ek.Event("E", {"n": i}) for i in range(5)])
    store.seal()
    store.close()
    [seg] = [p for p in Path(path, "segments").rglob("*.parquet")]
    data = bytearray(seg.read_bytes())
    data[len(data) // 3] ^= 0xFF
    seg.write_bytes(bytes(data))
    store = ek.open_store(path)
    with pytest.raises(ek.StoreError, match="damaged"):
        store.read_stream("a", backwards=True, limit=1, output="records")


def test_sealed_records_keep_bytes_and_times_after_compaction(tmp_path):
    """Bytes, times and dates read back exactly from a compacted segment on the records path."""
    when = dt.datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=dt.timezone.utc)
    store = ek.open_store(tmp_path / "s", auto_compact=False)
    store.append("s", ek.Event("E", {"blob": b"\x00\xff" * 3, "at": when, "day": dt.date(2024, 5, 2)}))
    store.seal()
    store.append("s", ek.Event("E", {"blob": b"", "x": 2.5}))
    store.seal()
    store.compact()
    assert store.info().segments == 1
    first, second = store.read_stream("s", output="records")
    assert first.data == {"blob": b"\x00\xff" * 3, "at": when, "day": dt.date(2024, 5, 2)}
    assert second.data == {"blob": b"", "x": 2.5} and isinstance(second.data["blob"], bytes)
    assert store.read_stream("s", backwards=True, limit=1, output="records")[0].data == second.data


def test_footer_cache_is_bounded_by_memory(tmp_path):
    """Parsed footers are kept up to a memory budget, least recently used dropped first, and a dropped
    footer is parsed again when its segment is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from eventkit.store.point_reads import FooterCache

    paths = []
    for i in range(4):
        path = str(tmp_path / f"{i}.parquet")
        pq.write_table(pa.table({"stream_id": [f"s{i}", f"t{i}"], "n": [1, 2]}), path)
        paths.append(path)
    one = FooterCache().get(paths[0]).cost
    cache = FooterCache(budget=2 * one + one // 2)
    for i, path in enumerate(paths):
        assert cache.get(path).ranges == [(f"s{i}", f"t{i}")]
    assert list(cache._items) == paths[2:]
    cache.get(paths[2])  # used again: now the newest
    cache.get(paths[0])  # parsed again, drops paths[3]
    assert list(cache._items) == [paths[2], paths[0]]


def test_a_page_of_the_hot_log_reveals_with_no_key_cached(tmp_path):
    """The first records read after an erasure elsewhere finds no key cached: a page of the hot log
    reads the keys it needs and reveals, as a stream read does."""
    path = tmp_path / "s"
    writer = ek.open_store(path)
    writer.declare_personal(stream_type="customer", fields=["email"], subject="stream_id")
    writer.append("c-1", ek.Event("Registered", {"email": "ann@example.com"}), stream_type="customer")
    writer.append("c-2", ek.Event("Registered", {"email": "bob@example.com"}), stream_type="customer")
    reader = ek.open_store(path)
    assert [e.data["email"] for e in reader.read_all(from_position=1, limit=2, output="records")] == [
        "ann@example.com", "bob@example.com"]
    writer.forget("c-2")
    assert [(e.data, e.erased) for e in reader.read_all(from_position=1, limit=2, output="records")] == [
        ({"email": "ann@example.com"}, False), ({}, True)]


def test_sealed_records_of_long_and_non_ascii_stream_ids(tmp_path, small_row_groups):
    """Parquet keeps only a 256-byte prefix of long text in its statistics: streams whose ids are longer
    (and not ASCII) are still found in the right row groups."""
    long_ids = ["é" * 200 + f"{i:04d}" for i in range(3)] + ["x" * 300 + "a", "x" * 300 + "b", "😀" * 70 + "z"]
    store = ek.open_store(tmp_path / "s", bulk_threshold=1)
    store.append_frame(pd.DataFrame({"stream_id": [s for _ in range(800) for s in long_ids], "event_type": "E",
                                     "n": range(800 * len(long_ids))}))
    for sid in long_ids:
        full = store.read_stream(sid)
        assert len(full) == 800
        [newest] = store.read_stream(sid, backwards=True, limit=1, output="records")
        assert (newest.stream_id, newest.version, newest.data["n"]) == (sid, 800, full["n"].iloc[-1])
        assert [e.data["n"] for e in store.read_stream(sid, limit=3, output="records")] == list(full["n"][:3])
