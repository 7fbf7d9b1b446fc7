"""Group commit with put-off writes: the members of a shared transaction check their appends without a
savepoint and the leader writes the group's rows, links, heads and counters together (issue 11)."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Callable

import pytest

import eventkit as ek
from eventkit.store import group_commit
from eventkit.store.catalog import Catalog


def _group_of(store: ek.Store, appends: list[Callable[[], Any]]) -> list[Any]:
    """Run ``appends`` as one group (queued behind a held transaction lock, in order); each one's result
    or the name of what it raised."""
    group = group_commit._group(store._catalog)
    out: list[Any] = [None] * len(appends)

    def run(i: int) -> None:
        try:
            out[i] = appends[i]()
        except BaseException as e:  # noqa: BLE001
            out[i] = type(e).__name__

    with group.tx_lock:
        threads = []
        for i in range(len(appends)):
            threads.append(threading.Thread(target=run, args=(i,)))
            threads[-1].start()
            deadline = time.monotonic() + 10
            while (group.pending is None or group.pending.members < i + 1) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert group.pending.members == i + 1
    for t in threads:
        t.join()
    return out


def _count(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count calls of the SQLite catalog's statement method ``name`` (one per statement sent)."""
    calls: list[int] = []
    real = getattr(Catalog, name)

    def counted(conn: Any, *args: Any) -> Any:
        calls.append(1)
        return real(conn, *args)

    monkeypatch.setattr(Catalog, name, staticmethod(counted))
    return calls


def test_a_group_writes_its_rows_links_heads_and_counters_once(tmp_path, monkeypatch):
    """Five one-event appends in one group: one statement each for the hot rows, the chain links, the
    stream heads and the counters, no savepoint; every append keeps its own link, position and version."""
    store = ek.open_store(tmp_path / "s")
    store.append("a", ek.Event("E", {"x": 1}))
    inserts, links, heads, savepoints = (_count(monkeypatch, n) for n in
                                         ("insert_hot", "add_links", "upsert_streams", "savepoint"))
    results = _group_of(store, [lambda s=s: store.append(s, ek.Event("E", {"x": 2}))
                                for s in ("a", "b", "a", "c", "b")])
    assert [r.first_position for r in results] == [2, 3, 4, 5, 6]
    assert [r.version for r in results] == [2, 1, 3, 1, 2]
    assert (len(inserts), len(links), len(heads), len(savepoints)) == (1, 1, 1, 0)
    frame = store.read_all()
    assert list(frame["position"]) == list(range(1, 7))
    assert list(frame["version"]) == [1, 2, 1, 3, 1, 2]
    with store._catalog.read() as tx:
        links = store._catalog.links(tx, kind="append")
    assert [(link[2], link[3]) for link in links] == [(p, p) for p in range(1, 7)]  # a link per append, as before
    assert store.verify().ok
    store.close()


def test_refused_and_slow_members_keep_their_meaning_between_deferred_ones(tmp_path):
    """A refused append writes nothing; one that must change the schema (a new payload field) or carries
    its own event id runs by itself after the rows before it are written: positions stay gap-free and
    each check sees the appends queued before it."""
    store = ek.open_store(tmp_path / "s")
    results = _group_of(store, [
        lambda: store.append("a", ek.Event("E", {"x": 1}), expected_version=ek.NO_STREAM),
        lambda: store.append("a", ek.Event("E", {"x": 2}), expected_version=ek.NO_STREAM),  # refused
        lambda: store.append("b", ek.Event("E", {"y": "new"})),  # a new field: its own savepoint
        lambda: store.append("a", ek.Event("E", {"x": 3}), expected_version=1),
        lambda: store.append("c", ek.Event("E", {"x": 4}, event_id="id-1")),  # supplied id: its own savepoint
        lambda: store.append("a", ek.Event("E", {"x": 5}), expected_version=1),  # refused: a is at 2
        lambda: store.append("a", ek.Event("E", {"x": 6}), expected_version=2),
    ])
    assert [r if isinstance(r, str) else (r.first_position, r.version) for r in results] == [
        (1, 1), "WrongExpectedVersion", (2, 1), (3, 2), (4, 1), "WrongExpectedVersion", (5, 3)]
    frame = store.read_all()
    assert list(frame["position"]) == [1, 2, 3, 4, 5]
    assert list(frame["x"].fillna(0)) == [1, 0, 3, 4, 6]
    assert frame["y"].tolist()[1] == "new"
    assert store.verify().ok
    assert store.append("a", ek.Event("E", {"x": 7}), expected_version=3).first_position == 6
    store.close()


def test_a_failed_write_of_the_put_off_rows_fails_the_whole_group(tmp_path, monkeypatch):
    """The leader's write of the group's rows fails (a full disk, say): every member raises, nothing of
    the group is stored, and the next append continues from the stored state, not the lost one."""
    store = ek.open_store(tmp_path / "s")
    store.append("a", ek.Event("E"))

    def full(conn: Any, links: list) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Catalog, "add_links", staticmethod(full))
    results = _group_of(store, [lambda s=s: store.append(s, ek.Event("E")) for s in ("a", "b", "c")])
    assert results == ["StoreError"] * 3  # as the catalog reports a failed write: an ek.EventKitError
    monkeypatch.undo()
    assert store.head == 1 and len(store.read_all()) == 1
    assert store.append("a", ek.Event("E"), expected_version=1).first_position == 2
    assert store.append("b", ek.Event("E"), expected_version=ek.NO_STREAM).version == 1
    assert store.verify().ok
    store.close()


def test_the_state_a_group_leaves_is_the_next_appends_start(tmp_path):
    """After a group, appends by each member's store object (and another process's commit in between)
    continue positions, versions and the chain exactly."""
    path = tmp_path / "s"
    stores = [ek.open_store(path) for _ in range(3)]
    _group_of(stores[0], [lambda i=i: stores[i % 3].append("s", ek.Event("E")) for i in range(6)])
    for i in range(3):
        assert stores[i].append("s", ek.Event("E"), expected_version=6 + i).version == 7 + i
    _group_of(stores[1], [lambda i=i: stores[i % 3].append(f"t{i % 2}", ek.Event("E")) for i in range(4)])
    assert stores[1].append("s", ek.Event("E"), expected_version=9).first_position == 14
    frame = stores[2].read_all()
    assert list(frame["position"]) == list(range(1, 15))
    assert stores[2].verify().ok
    for s in stores:
        s.close()


def test_a_group_leaves_its_state_only_where_it_was_read(tmp_path):
    """The state a group's put-off writes leave is kept by the store object that read it, not by the last
    member's: a store object whose remembered stream heads are stale (another one appended since) must
    not take them as current after a group ran on its connection."""
    path = tmp_path / "s"
    mine, other = ek.open_store(path), ek.open_store(path)
    mine.append("x", ek.Event("E"), checkpoint=("c", 5))  # mine remembers x at version 1
    other.append("x", ek.Event("E"), expected_version=1)  # x at 2: mine's memory is stale
    results = _group_of(mine, [
        lambda: mine.append("w", ek.Event("E"), checkpoint=("c", 3)),  # the leader, on mine's connection: refused
        lambda: other.append("y", ek.Event("E")),  # reads the state for the group's put-off writes
        lambda: mine.append("z", ek.Event("E")),  # the last one
    ])
    assert [r if isinstance(r, str) else r.first_position for r in results] == ["CheckpointConflict", 3, 4]
    assert mine.append("x", ek.Event("E"), expected_version=2).version == 3
    assert list(mine.read_stream("x")["version"]) == [1, 2, 3]
    mine.close()
    other.close()


def test_several_events_and_streams_in_a_group_keep_their_order_and_links(tmp_path):
    """Multi-event and multi-stream appends (append_streams, a small append_frame) written together with
    one-event ones: rows in commit order, versions per stream, one chain link per append, verifiable."""
    import pandas as pd

    store = ek.open_store(tmp_path / "s")
    store.append("a", ek.Event("E", {"x": 0}))
    results = _group_of(store, [
        lambda: store.append("a", [ek.Event("E", {"x": 1}), ek.Event("E", {"x": 2})], expected_version=1),
        lambda: store.append_streams({"b": [ek.Event("E", {"x": 3})], "a": [ek.Event("E", {"x": 4})]},
                                     expected_versions={"a": 3, "b": ek.NO_STREAM}),
        lambda: store.append_frame(pd.DataFrame({"stream_id": ["c", "b", "c"], "event_type": ["E"] * 3,
                                                 "x": [5, 6, 7]})),
        lambda: store.append_streams({"a": [ek.Event("E", {"x": 8})]}, expected_versions={"a": 3}),  # refused
        lambda: store.append("b", ek.Event("E", {"x": 9}), expected_version=2),
    ])
    assert [r if isinstance(r, str) else (r.first_position, r.last_position, r.versions) for r in results] == [
        (2, 3, {"a": 3}), (4, 5, {"b": 1, "a": 4}), (6, 8, {"c": 2, "b": 2}), "WrongExpectedVersion", (9, 9, {"b": 3})]
    frame = store.read_all()
    assert list(frame["x"]) == [0, 1, 2, 3, 4, 5, 6, 7, 9] and list(frame["position"]) == list(range(1, 10))
    assert list(frame["version"]) == [1, 2, 3, 1, 4, 1, 2, 2, 3]
    with store._catalog.read() as tx:
        links = store._catalog.links(tx, kind="append")
    assert [(link[2], link[3]) for link in links] == [(1, 1), (2, 3), (4, 5), (6, 8), (9, 9)]
    assert store.verify().ok
    store.close()
