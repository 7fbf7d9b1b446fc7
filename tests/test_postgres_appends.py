"""Appends on the PostgreSQL catalog: few round trips, and every guarantee kept (issue 12, item 7).

What a write sends is counted from libpq's protocol trace of the catalog's connections: a statement is
an ``Execute`` message, a round trip a wait for the server's answer. The stream-head cache of
:mod:`eventkit.store.postgres_catalog_tx` is checked against writers it cannot see (another
connection string: another cache, as another process has) and against writes that did not commit.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store import group_commit
from eventkit.store import store_appends
from eventkit.store.postgres_catalog_tx import UNREAD, HeadCache

from _catalogs import store_catalog


@pytest.fixture
def pg(request) -> str:
    """The ``catalog=`` URL of a new, empty PostgreSQL catalog."""
    return store_catalog("postgresql", request)


class Traffic:
    """What the traced connections sent: statements and round trips, summed over the connections."""

    statements = 0
    round_trips = 0


@contextmanager
def traced(*stores: ek.Store) -> Iterator[Traffic]:
    import psycopg

    traffic = Traffic()
    files = []
    conns = [s._catalog._connection() for s in stores]
    try:
        for conn in conns:
            f = tempfile.TemporaryFile("w+")
            files.append(f)
            conn.pgconn.trace(f.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        yield traffic
    finally:
        for conn in conns:
            conn.pgconn.untrace()
    for f in files:
        f.seek(0)
        lines = [line for line in f.read().splitlines() if line[:1] in ("F", "B")]
        f.close()
        traffic.statements += sum(line.split("\t")[2] == "Execute" for line in lines if line[0] == "F")
        traffic.round_trips += sum(a[0] == "F" and b[0] == "B" for a, b in zip(lines, lines[1:]))


def _one_group(stores: list[ek.Store], appends: list[tuple[int, str, object]]) -> dict[str, object]:
    """Run ``(store index, stream, expected version)`` appends as one group commit; each one's version or error."""
    group = group_commit._group(stores[0]._catalog)
    outcome: dict[str, object] = {}

    def append(i: int, sid: str, expected: object) -> None:
        try:
            outcome[sid] = stores[i].append(sid, ek.Event("Deposited", {"amount": 1.5}), expected_version=expected).version
        except ek.EventKitError as e:
            outcome[sid] = type(e).__name__

    with group.tx_lock:  # as if a group were committing: the appends queue up and form the next one
        threads = [threading.Thread(target=append, args=a) for a in appends]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while (group.pending is None or group.pending.members < len(appends)) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert group.pending.members == len(appends)
    for t in threads:
        t.join()
    return outcome


@pytest.mark.postgresql
def test_an_append_to_a_stream_this_process_knows_is_two_round_trips(tmp_path, pg):
    """The lock with what it guards, then the writes with COMMIT: the stream's head is not read again
    (it was 3 round trips and 6 statements: the head was read after the lock)."""
    store = ek.open_store(tmp_path / "s", catalog=pg)
    store.append("a", ek.Event("Deposited", {"amount": 1}), expected_version=ek.NO_STREAM)
    store.append("a", ek.Event("Deposited", {"amount": 2}), expected_version=1)
    with traced(store) as sent:
        assert store.append("a", ek.Event("Deposited", {"amount": 3}), expected_version=2).version == 3
    assert (sent.round_trips, sent.statements) == (2, 5)  # BEGIN, lock, guarded read | writes, COMMIT
    assert store.read_stream("a")["amount"].tolist() == [1, 2, 3] and store.verify().ok
    store.close()


@pytest.mark.postgresql
def test_a_group_commit_reads_its_heads_at_once_and_writes_in_one_statement(tmp_path, pg):
    """8 appends from 8 store objects sharing one transaction: the new streams' heads in one read for
    all of them, every write in one statement; appends to streams the group wrote cost no read at all
    (it was one read per append, and two statements)."""
    stores = [ek.open_store(tmp_path / "s", catalog=pg) for _ in range(8)]
    stores[0].append("warm", ek.Event("Deposited", {"amount": 0.5}))  # adds the payload field
    for i, s in enumerate(stores):  # and each store object reads the payload schema once
        s.append(f"warm-{i}", ek.Event("Deposited", {"amount": 0.5}))
    with traced(*stores) as sent:
        first = _one_group(stores, [(i, f"n{i}", ek.NO_STREAM) for i in range(8)])
    assert first == {f"n{i}": 1 for i in range(8)}
    assert (sent.round_trips, sent.statements) == (3, 6)  # lock | heads of all 8 | writes, COMMIT
    with traced(*stores) as sent:
        second = _one_group(stores, [(i, f"n{i}", 1 if i else ek.NO_STREAM) for i in range(8)])
    assert second == {"n0": "WrongExpectedVersion", **{f"n{i}": 2 for i in range(1, 8)}}
    assert (sent.round_trips, sent.statements) == (2, 5)
    frame = stores[0].read_all()
    assert frame["position"].tolist() == list(range(1, 25))
    assert frame.groupby("stream_id")["version"].max().to_dict() == {
        "warm": 1, **{f"warm-{i}": 1 for i in range(8)}, "n0": 1, **{f"n{i}": 2 for i in range(1, 8)}}
    assert stores[0].verify().ok
    for s in stores:
        s.close()


@pytest.mark.postgresql
def test_a_stream_moved_by_another_writer_is_read_again(tmp_path, pg):
    """A writer this process's cache does not see (another connection string: another cache, as in
    another process) moves a stream by a hot append and by a bulk one: the next append here checks
    its expected version against the moved head, and a seal in between changes nothing."""
    here = ek.open_store(tmp_path / "s", catalog=pg, bulk_threshold=50)
    there = ek.open_store(tmp_path / "s", catalog=pg + "&application_name=there", bulk_threshold=50)
    assert here._catalog._heads is not there._catalog._heads
    here.append("s", ek.Event("Deposited", {"amount": 1}), expected_version=ek.NO_STREAM)
    there.append("s", ek.Event("Deposited", {"amount": 2}), expected_version=1)
    with pytest.raises(ek.WrongExpectedVersion):
        here.append("s", ek.Event("Deposited", {"amount": 3}), expected_version=1)
    assert here.append("s", ek.Event("Deposited", {"amount": 3}), expected_version=2).version == 3
    there.append_frame(pd.DataFrame({"stream_id": ["s"] * 60, "event_type": "Deposited", "amount": 4.0}))
    there.seal()
    with pytest.raises(ek.WrongExpectedVersion):
        here.append("s", ek.Event("Deposited", {"amount": 5}), expected_version=3)
    assert here.append("s", ek.Event("Deposited", {"amount": 5}), expected_version=63).version == 64
    assert here.read_stream("s")["version"].tolist() == list(range(1, 65)) and here.verify().ok
    here.close()
    there.close()


@pytest.mark.postgresql
def test_a_forked_child_appends_with_a_head_cache_of_its_own(tmp_path, pg):
    """A child forked while a parent's thread held the head cache's lock appends without waiting for
    it, and its appends are checked against the server, not against the parent's cache."""
    store = ek.open_store(tmp_path / "s", catalog=pg)
    store.append("a", ek.Event("E"), expected_version=ek.NO_STREAM)
    with store._catalog._heads.lock:
        pid = os.fork()
        if pid == 0:  # the child
            code = 3
            try:
                store.append("a", ek.Event("E"), expected_version=1)
                try:
                    store.append("a", ek.Event("E"), expected_version=1)
                except ek.WrongExpectedVersion:
                    code = 0
            finally:
                os._exit(code)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the head cache's lock")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    with pytest.raises(ek.WrongExpectedVersion):  # the parent sees the child's append
        store.append("a", ek.Event("E"), expected_version=1)
    assert store.append("a", ek.Event("E"), expected_version=2).version == 3
    store.close()


@pytest.mark.postgresql
def test_appends_store_the_same_chain_links_as_on_sqlite(tmp_path, pg, monkeypatch):
    """The same appends, at the same clock, give byte-identical hash-chain links and the same rows on
    both catalogs: text with quotes, backslashes, control characters and non-ASCII travels in the
    PostgreSQL catalog's JSON parameters unchanged."""
    monkeypatch.setattr(store_appends, "micros_now", lambda: 1_700_000_000_000_000)
    odd = ['quo"te', "back\\slash", "new\nline\ttab\x01", "ünï 中文 😀", "nul\x00inside", ""]
    sids = [f"s-{text}".replace("\x00", "0") for text in odd]  # a stream id refuses NUL, a payload keeps it

    def fill(store: ek.Store) -> None:
        for i, text in enumerate(odd):
            store.append(sids[i], ek.Event("Noted", {"text": text, "n": i}, metadata={"why": text},
                                               event_id=f"00000000-0000-4000-8000-{i:012d}",
                                               occurred_at="2024-01-02T03:04:05Z"),
                         expected_version=ek.NO_STREAM)
        store.append_streams({"x": [ek.Event("A", {"n": 1}), ek.Event("B", {"n": 2})], "y": ek.Event("C")})
        store.append("x", ek.Event("A", {"n": 3}), expected_version=2)
        again = store.append(sids[0], ek.Event("Noted", {"text": odd[0], "n": 0}, metadata={"why": odd[0]},
                                                     event_id="00000000-0000-4000-8000-000000000000",
                                                     occurred_at="2024-01-02T03:04:05Z"))
        assert again.duplicate

    results = {}
    for name, catalog in (("sqlite", None), ("postgresql", pg)):
        store = ek.open_store(tmp_path / name, catalog=catalog)
        store._catalog.id_prefix = "0123456789ab"  # generated ids alike in both stores
        fill(store)
        with store._catalog.read() as tx:
            links = [tuple(link) for link in store._catalog.links(tx)]
        results[name] = (links, store.read_all(), store.verify().ok)
        store.close()
    (sq_links, sq_rows, sq_ok), (pg_links, pg_rows, pg_ok) = results["sqlite"], results["postgresql"]
    assert sq_ok and pg_ok
    assert len(pg_links) == 8 and pg_links == sq_links
    pd.testing.assert_frame_equal(pg_rows, sq_rows)
    assert pg_rows["text"].tolist()[:len(odd)] == odd


def test_the_head_cache_is_used_only_where_its_last_commit_left_the_store():
    cache = HeadCache()
    assert cache.lookup(None, ["a"]) == {}  # never committed: valid at the empty store only
    token, valid = cache.committing(None)
    cache.committed(token, valid, (1, "h1"), {"a": ("t", 1), "b": None})
    assert cache.lookup((1, "h1"), ["a", "b", "c"]) == {"a": ("t", 1), "b": None}
    assert cache.lookup((2, "h2"), ["a"]) == {}  # another writer committed since
    # A commit that waited for the lock behind this one's late bookkeeping: its own start was not the
    # cache's, so it keeps only its own heads; the late one then changes nothing.
    late, late_valid = cache.committing((1, "h1"))
    token, valid = cache.committing((2, "h2"))
    assert late_valid and not valid
    cache.committed(token, valid, (3, "h3"), {"c": ("t", 4), "a": UNREAD})
    cache.committed(late, late_valid, (2, "h2"), {"a": ("t", 2)})
    assert cache.lookup((3, "h3"), ["a", "b", "c"]) == {"c": ("t", 4)}
    # A commit that failed leaves its token: nothing is used until the next commit starts over.
    failed, _ = cache.committing((3, "h3"))
    assert cache.lookup((3, "h3"), ["c"]) == {}
    token, valid = cache.committing((3, "h3"))
    cache.committed(token, valid, (4, "h4"), {"d": ("t", 1)})
    assert cache.lookup((4, "h4"), ["c", "d"]) == {"d": ("t", 1)}
