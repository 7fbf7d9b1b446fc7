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


def test_the_append_link_is_the_general_links_value():
    """The append path's own link computation (chain_links.append_link) gives exactly the link
    ``make_link`` + ``hot_append_detail`` define (which ``verify`` re-computes): same detail, same hash."""
    from eventkit.store.chain_links import append_link
    from eventkit.store.integrity import hot_append_detail, make_link

    rows = [(7, "acct-é", "account", 3, "Deposited", "id-1", 1_700_000_000_000_000, 1_700_000_000_000_001,
             '{"amount": 1.5, "note": "naïve \\u2603"}', None),
            (8, "acct-2", "default", 1, "Opened", "id-2", 5, 1_700_000_000_000_001, None, '{"by": "x"}'),
            (9, "acct-2", "default", 2, "Noted", "id-3", 6, 1_700_000_000_000_001, '{"s": "\\u0000 \\"q\\""}', None)]
    for previous in (None, (41, bytes(range(32)))):
        for n in (1, 2, 3):
            want = make_link(previous, "append", rows[0][0], rows[n - 1][0], rows[0][7], hot_append_detail(rows[:n]))
            assert append_link(previous, rows[:n]) == (want.seq, want.kind, want.first_position, want.last_position,
                                                       want.recorded_at, want.detail, want.prev_hash, want.hash)


def test_the_append_paths_leaf_text_is_hot_leaf():
    """The append path writes a hot row's leaf JSON field by field (chain_links._leaf_text): byte for
    byte what integrity.hot_leaf (which verify and proofs use) gives, for any text and for rows of
    other shapes (which take the encoder)."""
    from hypothesis import given, strategies as st

    from eventkit.store.chain_links import _leaf_text
    from eventkit.store.integrity import hot_leaf

    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)

    @given(st.tuples(ints, text, text, ints, text, text, ints, ints, st.none() | text, st.none() | text))
    def check(row):
        assert _leaf_text(row).encode() == hot_leaf(row)

    check()
    odd = [(1, "a", "b", True, "E", "i", 2, 3, None, None), (1, "a", "b", 2, "E", "i", 2, 3, b"x".decode(), 4.5),
           (1, "a", "b", 2, "E", "i", 2, 3, None)]
    for row in odd:
        assert _leaf_text(row).encode() == hot_leaf(row)


def test_the_catalog_checkpoints_its_wal_in_large_steps_without_an_fsync_per_commit(tmp_path):
    """An append writes ~5 catalog pages: at durability normal the WAL is copied back every 8,192 pages, not
    SQLite's default 1,000, so a checkpoint's two fsyncs are paid once per ~1,600 appends; at durability full
    (an fsync per commit anyway) the WAL stays small and is overwritten in place (issue 11, item 2)."""
    from eventkit.store.catalog import WAL_CHECKPOINT_PAGES

    from eventkit.store.wal_sync import SUPPORTED

    # "full" syncs after COMMIT where it can (tests/test_wal_sync.py), else SQLite syncs in it
    for durability, synchronous in (("normal", 1), ("full", 1 if SUPPORTED else 2)):
        store = ek.open_store(tmp_path / durability, durability=durability)
        try:
            conn = store._catalog.conn
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES[durability]
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        finally:
            store.close()
    assert WAL_CHECKPOINT_PAGES["normal"] > 1000


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="flock is POSIX-only")
def test_writers_of_other_processes_queue_on_a_file_lock_while_a_write_is_open(tmp_path):
    """Writers wait on a kernel file lock held for the length of each write transaction, so the next one
    starts when the lock is released, instead of in SQLite's busy handler, which sleeps up to 100 ms
    between tries (issue 11, item 2: writer processes at an fsync per commit)."""
    import fcntl
    import os

    from eventkit.store.catalog import WRITER_QUEUE_SUFFIX

    store = ek.open_store(tmp_path / "s")
    queue = tmp_path / "s" / ("catalog.sqlite" + WRITER_QUEUE_SUFFIX)
    fd = os.open(queue, os.O_RDWR)  # another open file description: as another process would hold it
    try:
        def try_lock() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True

        assert try_lock()
        with store._catalog.write():
            assert not try_lock()  # held while the transaction is open
        assert try_lock()
        store.append("a", ek.Event("E"))
        assert try_lock() and store.head == 1
    finally:
        os.close(fd)
        store.close()
