"""Group commit: concurrent appenders share one transaction; each append keeps its own checks (issue 11)."""

from __future__ import annotations

import threading
import time

import pytest

import eventkit as ek
from eventkit.store import group_commit
from eventkit.store.catalog import Catalog


def test_concurrent_appenders_store_everything_in_order(tmp_path, monkeypatch):
    """8 threads, one store object each, fsync per commit: every append stored once, positions gap-free,
    versions per stream in commit order, and appends that arrived together shared commits."""
    path = tmp_path / "s"
    ek.open_store(path).close()
    stores = [ek.open_store(path, durability="full") for _ in range(8)]
    groups = []
    real = group_commit._commit

    def counting(group, batch, opened):
        real(group, batch, opened)
        groups.append(batch.members)  # final once committed: members may join while the leader works

    group_commit._commit, saved = counting, group_commit._commit
    writes = []
    real_write = Catalog.write

    def counting_write(self):
        writes.append(1)
        return real_write(self)

    monkeypatch.setattr(Catalog, "write", counting_write)
    barrier = threading.Barrier(8)
    results: list[list[ek.AppendResult]] = [[] for _ in range(8)]

    def work(w: int) -> None:
        barrier.wait()
        for i in range(15):
            results[w].append(stores[w].append(f"s{w % 3}", ek.Event("E", {"w": w, "i": i})))

    try:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        group_commit._commit = saved
    frame = stores[0].read_all()
    assert list(frame["position"]) == list(range(1, 121))
    for sid, part in frame.groupby("stream_id"):
        assert list(part["version"]) == list(range(1, len(part) + 1))
    for w in range(8):
        mine = frame[frame["w"] == w]
        assert list(mine["i"]) == list(range(15))  # each thread's appends in its own order
        assert [r.first_position for r in results[w]] == list(mine["position"])
    assert len(writes) < 120 and max(groups) > 1, (len(writes), groups)  # some appends shared a commit
    for s in stores:
        s.close()


def test_a_refused_append_fails_alone_in_its_group(tmp_path):
    """Three appends queued behind one commit: the one with a wrong expected version raises in its own
    thread; the others are stored."""
    store = ek.open_store(tmp_path / "s")
    store.append("taken", ek.Event("E"))
    group = group_commit._group(store._catalog)
    outcome: dict[str, object] = {}

    def append(name: str, expected: object) -> None:
        try:
            outcome[name] = store.append(name, ek.Event("E"), expected_version=expected).version
        except ek.EventKitError as e:
            outcome[name] = type(e).__name__

    with group.tx_lock:  # as if a group were committing: the three appends form the next one
        threads = [threading.Thread(target=append, args=a)
                   for a in (("a", ek.NO_STREAM), ("taken", ek.NO_STREAM), ("b", ek.NO_STREAM))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while (group.pending is None or group.pending.members < 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.pending.members == 3
    for t in threads:
        t.join()
    assert outcome == {"a": 1, "taken": "WrongExpectedVersion", "b": 1}
    assert store.head == 3 and sorted(store.read_all()["stream_id"]) == ["a", "b", "taken"]
    store.close()


def test_a_failed_commit_fails_every_append_of_the_group(tmp_path, monkeypatch):
    store = ek.open_store(tmp_path / "s")

    def broken_write():
        raise ek.StoreError("the store's catalog failed: disk I/O error")

    monkeypatch.setattr(store._catalog, "write", broken_write)
    with pytest.raises(ek.StoreError, match="I/O"):
        store.append("a", ek.Event("E"))
    monkeypatch.undo()
    assert store.head == 0
    store.close()


def test_a_refused_leader_does_not_fail_its_group(tmp_path):
    """The group's leader runs every member's append; its own refusal raises in its own thread only,
    and the members that joined it are stored and acknowledged."""
    store = ek.open_store(tmp_path / "s")
    store.append("taken", ek.Event("E"))
    group = group_commit._group(store._catalog)
    outcome: dict[str, object] = {}

    def append(name: str, expected: object) -> None:
        try:
            outcome[name] = store.append(name, ek.Event("E"), expected_version=expected).version
        except ek.EventKitError as e:
            outcome[name] = type(e).__name__

    with group.tx_lock:
        threads = [threading.Thread(target=append, args=("taken", ek.NO_STREAM))]  # the leader
        threads[0].start()
        _wait_for(group, 1)
        threads += [threading.Thread(target=append, args=(n, ek.NO_STREAM)) for n in ("a", "b")]
        for t in threads[1:]:
            t.start()
        _wait_for(group, 3)
    for t in threads:
        t.join()
    assert outcome == {"taken": "WrongExpectedVersion", "a": 1, "b": 1}
    assert store.head == 3 and store.verify().ok
    store.close()


def test_a_failure_in_the_leader_between_appends_fails_every_member(tmp_path, monkeypatch):
    """Something raised in the leader outside the members' own work (a KeyboardInterrupt in the main thread,
    say) rolls the group back and raises in every member, instead of members returning nothing."""
    store = ek.open_store(tmp_path / "s")
    group = group_commit._group(store._catalog)
    original = group_commit._run_member
    outcome: dict[str, object] = {}

    def interrupted(catalog, tx, member, index):
        original(catalog, tx, member, index)
        if index == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(group_commit, "_run_member", interrupted)

    def append(name: str) -> None:
        try:
            outcome[name] = store.append(name, ek.Event("E")).version
        except BaseException as e:  # noqa: BLE001
            outcome[name] = type(e).__name__

    with group.tx_lock:
        threads = [threading.Thread(target=append, args=(n,)) for n in ("a", "b", "c")]
        for i, t in enumerate(threads):
            t.start()
            _wait_for(group, i + 1)
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert outcome == {"a": "KeyboardInterrupt", "b": "KeyboardInterrupt", "c": "KeyboardInterrupt"}
    assert store.head == 0
    assert store.append("d", ek.Event("E")).first_position == 1  # the catalog is usable afterwards
    store.close()


def _wait_for(group: group_commit._Group, members: int) -> None:
    """Until ``members`` appends have joined the group's pending batch (at most 10 s)."""
    deadline = time.monotonic() + 10
    while (group.pending is None or group.pending.members < members) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert group.pending.members == members
