"""Durability "full" on the SQLite catalog: commits without an fsync inside COMMIT, then one fsync of the WAL
shared by every commit made before it, across threads and processes (issue 11, item 2; eventkit.store.wal_sync).

Each append must still return only once durable: the spies below record, for every fsync, the commit counter
read *before* it started (so every commit counted is in the WAL it flushes), and check each append against them.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.store import group_commit, wal_sync
from eventkit.store.catalog import Catalog

pytestmark = pytest.mark.skipif(not wal_sync.SUPPORTED, reason="shared fsyncs need flock and a 64-bit platform")


def _counters(path: Path) -> dict[str, int]:
    """The shared counters of the store at ``path``, read from their file."""
    raw = (path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX)).read_bytes()
    words = memoryview(raw).cast("Q")
    return {"commits": words[0], "synced": words[1]}


class _SyncSpy:
    """Wraps os.fdatasync / os.fsync: each call's path and the commit counter read just before it started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store_path: Path) -> None:
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.counters = store_path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX)
        for name in ("fsync", "fdatasync"):
            real = getattr(os, name)

            def spy(fd: int, real=real) -> None:
                target = os.readlink(f"/proc/self/fd/{fd}")
                before = memoryview(self.counters.read_bytes()).cast("Q")[0] if self.counters.exists() else 0
                real(fd)
                with self.lock:
                    self.calls.append((target, before))

            monkeypatch.setattr(os, name, spy)

    def wal_syncs(self) -> list[int]:
        """The commit counter at the start of each completed fsync of a -wal file, in order of completion."""
        return [before for target, before in self.calls if target.endswith("catalog.sqlite-wal")]


def _numbered(monkeypatch: pytest.MonkeyPatch, spy: _SyncSpy) -> list[tuple[int, int]]:
    """Records each make_durable's commit number and, when it returns, the largest commit an fsync already
    completed had covered (checked against the spy, not against the shared ``synced`` word)."""
    seen: list[tuple[int, int]] = []
    real = wal_sync.WalSync.wait_durable

    def checked(self, number: int) -> None:
        real(self, number)
        with spy.lock:
            seen.append((number, max(spy.wal_syncs(), default=0)))

    monkeypatch.setattr(wal_sync.WalSync, "wait_durable", checked)
    return seen


def test_full_commits_without_an_fsync_in_commit_and_syncs_the_wal_after(tmp_path, monkeypatch):
    """Each of 20 sequential appends at durability "full" returns after an fsync of the catalog's WAL that
    began after its commit; SQLite itself commits with synchronous=NORMAL."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    spy = _SyncSpy(monkeypatch, path)
    seen = _numbered(monkeypatch, spy)
    with ek.open_store(path, durability="full") as store:
        assert store._catalog.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        for i in range(20):
            store.append("a", ek.Event("E", {"i": i}))
    assert len(seen) == 20 and len(spy.wal_syncs()) == 20
    assert all(covered >= number for number, covered in seen), seen
    assert _counters(path)["synced"] >= _counters(path)["commits"] == 20


def test_normal_durability_has_no_shared_sync(tmp_path, monkeypatch):
    path = tmp_path / "s"
    ek.open_store(path).close()
    spy = _SyncSpy(monkeypatch, path)
    with ek.open_store(path) as store:
        assert store._catalog._wal_sync is None
        store.append("a", ek.Event("E"))
    assert spy.wal_syncs() == [] and not (path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX)).exists()


def test_threads_appending_together_share_fsyncs(tmp_path, monkeypatch):
    """8 threads (one store object each) append while the sync lock is held elsewhere: the first group commits
    (and is visible to readers: the documented trade-off) but no append returns; the rest gather into the next
    group meanwhile. Once the lock is free, two fsyncs at most cover the 8 appends."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    stores = [ek.open_store(path, durability="full") for _ in range(8)]
    group = group_commit._group(stores[0]._catalog)
    spy = _SyncSpy(monkeypatch, path)
    seen = _numbered(monkeypatch, spy)
    returned: list[int] = []
    blocker = os.open(path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX), os.O_RDWR)
    fcntl.flock(blocker, fcntl.LOCK_EX)  # as another process's fsync in flight would
    try:
        def work(w: int) -> None:
            stores[w].append(f"s{w}", ek.Event("E", {"w": w}))
            returned.append(w)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while stores[0].head + (group.pending.members if group.pending else 0) < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert stores[0].head >= 1  # committed and readable before durable
        time.sleep(0.05)
        assert returned == []  # but no append has returned
    finally:
        fcntl.flock(blocker, fcntl.LOCK_UN)
        os.close(blocker)
    for t in threads:
        t.join()
    assert sorted(returned) == list(range(8)) and stores[0].head == 8
    assert len(spy.wal_syncs()) <= 2, spy.calls  # one per group
    assert all(covered >= number for number, covered in seen), seen
    for s in stores:
        s.close()


def test_threads_at_full_durability_make_fewer_fsyncs_than_appends(tmp_path, monkeypatch):
    """8 threads, 30 appends each, nothing held: still fewer fsyncs than appends (groups share a commit,
    commits share an fsync), every append durable when it returned, and the log complete and in order."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    stores = [ek.open_store(path, durability="full") for _ in range(8)]
    spy = _SyncSpy(monkeypatch, path)
    seen = _numbered(monkeypatch, spy)
    barrier = threading.Barrier(8)

    def work(w: int) -> None:
        barrier.wait()
        for i in range(30):
            stores[w].append(f"s{w % 3}", ek.Event("E", {"w": w, "i": i}))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spy.wal_syncs()) < 240, len(spy.wal_syncs())
    assert all(covered >= number for number, covered in seen)
    frame = stores[0].read_all()
    assert list(frame["position"]) == list(range(1, 241)) and stores[0].verify().ok
    for s in stores:
        s.close()


def _append_once(path: str, queue: multiprocessing.Queue) -> None:
    """A writer process: one append at durability "full"; reports how many WAL fsyncs it made."""
    calls = []
    real = os.fdatasync

    def spy(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    os.fdatasync = spy
    with ek.open_store(path, durability="full") as store:
        store.append(f"p{os.getpid()}", ek.Event("E"))
    queue.put(sum(c.endswith("-wal") for c in calls))


def test_processes_share_fsyncs(tmp_path):
    """Three writer processes commit while the sync lock is held elsewhere; once it is free, the first of
    them to get it covers the three commits with one fsync and the others return without one."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    blocker = os.open(path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX), os.O_RDWR)
    fcntl.flock(blocker, fcntl.LOCK_EX)
    procs = [ctx.Process(target=_append_once, args=(str(path), queue)) for _ in range(3)]
    try:
        for p in procs:
            p.start()
        deadline = time.monotonic() + 30
        while _counters(path)["commits"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _counters(path) == {"commits": 3, "synced": 0}
    finally:
        fcntl.flock(blocker, fcntl.LOCK_UN)
        os.close(blocker)
    fsyncs = sorted(queue.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert fsyncs == [0, 0, 1]
    assert _counters(path) == {"commits": 3, "synced": 3}


def test_a_process_killed_between_commit_and_fsync_is_covered_by_the_next(tmp_path):
    """A writer killed after its commit, before its fsync, never answered its caller; its append is stored
    (visible), and the next appender's fsync covers it."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    ctx = multiprocessing.get_context("fork")
    blocker = os.open(path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX), os.O_RDWR)
    fcntl.flock(blocker, fcntl.LOCK_EX)
    proc = ctx.Process(target=_append_once, args=(str(path), ctx.Queue()))
    try:
        proc.start()
        deadline = time.monotonic() + 30
        while _counters(path)["commits"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
    finally:
        fcntl.flock(blocker, fcntl.LOCK_UN)
        os.close(blocker)
    assert _counters(path) == {"commits": 1, "synced": 0}
    with ek.open_store(path, durability="full") as store:
        assert store.head == 1
        store.append("next", ek.Event("E"))
    assert _counters(path) == {"commits": 2, "synced": 2}


def test_a_new_wal_file_has_its_folder_entry_synced(tmp_path, monkeypatch):
    """The last connection to close deletes the WAL; the next writer creates a new one, whose name must be
    durable too: the first fsync of each WAL file also syncs the folder."""
    path = tmp_path / "s"
    for _ in range(2):
        spy = _SyncSpy(monkeypatch, path)
        with ek.open_store(path, durability="full") as store:
            store.append("a", ek.Event("E"))
            store.append("a", ek.Event("E"))
        synced = [target for target, _ in spy.calls]
        assert synced.count(str(path)) == 1, synced  # once per WAL file, not per commit
        assert not (path / "catalog.sqlite-wal").exists()
        monkeypatch.undo()


def test_without_a_wal_file_the_database_is_synced(tmp_path, monkeypatch):
    """A commit whose WAL was checkpointed and deleted before its fsync: the database holds it; sync that."""
    path = tmp_path / "s"
    ek.open_store(path).close()
    sync = wal_sync.WalSync(path / "catalog.sqlite")
    spy = _SyncSpy(monkeypatch, path)
    assert not (path / "catalog.sqlite-wal").exists()
    sync.wait_durable(sync.committed())
    assert [target for target, _ in spy.calls][0] == str(path / "catalog.sqlite")
    sync.close()


def test_a_failed_fsync_fails_every_commit_it_was_to_cover(tmp_path, monkeypatch):
    """An fsync error: its appender raises (the change is committed, so it says so), and so does any other
    whose commit that fsync was to cover, even after a later fsync succeeds; later commits are fine."""
    path = tmp_path / "s"
    ek.open_store(path, durability="full").close()
    with ek.open_store(path, durability="full") as store:
        store.append("a", ek.Event("E"))  # the WAL exists
        sync = store._catalog._wal_sync
        first, second = sync.committed(), sync.committed()  # two commits (the second's appender is slower)

        def broken(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(ek.StoreError, match="committed.*fsync.*failed.*Input/output"):
            sync.wait_durable(first)
        monkeypatch.undo()
        with pytest.raises(ek.StoreError, match="committed.*in another appender"):
            sync.wait_durable(second)
        assert store.append("a", ek.Event("E")).first_position == 2  # a later commit is durable as usual
        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(ek.StoreError, match="committed"):
            store.append("a", ek.Event("E"))
        monkeypatch.undo()
        assert store.head == 3  # stored: the error says so rather than inviting a blind retry


def test_full_and_normal_appenders_never_share_a_group(tmp_path):
    """A group's commit is made durable by its leader's catalog: appends at "full" must not be led by a
    catalog at "normal", which would not sync them."""
    path = tmp_path / "s"
    ek.open_store(path).close()
    with ek.open_store(path, durability="full") as full, ek.open_store(path) as normal, \
            ek.open_store(path, durability="full") as other:
        assert group_commit._group(full._catalog) is not group_commit._group(normal._catalog)
        assert group_commit._group(full._catalog) is group_commit._group(other._catalog)


def test_without_the_shared_counters_full_keeps_synchronous_full(tmp_path, monkeypatch):
    """Where the counters cannot be used (no flock, a 32-bit platform, a file that cannot be made), SQLite
    syncs inside COMMIT as before."""
    monkeypatch.setattr(wal_sync, "SUPPORTED", False)
    with ek.open_store(tmp_path / "s", durability="full") as store:
        assert store._catalog._wal_sync is None
        assert store._catalog.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        store.append("a", ek.Event("E"))


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_sqlite_checkpoints_sync_the_wal_then_the_database(tmp_path):
    """The soundness of syncing only the WAL rests on SQLite's checkpoints under synchronous=NORMAL: the WAL
    is synced before its frames are copied into the database, and the database after, before the WAL can
    restart from its beginning (counted with strace over enough appends for several checkpoints)."""
    out = tmp_path / "strace.txt"
    (tmp_path / "s").mkdir()
    # SQLite alone, set up as the catalog is at durability "full" (its setting is pinned above), with
    # small checkpoints (the catalog's is 1,000 pages) so that a few dozen commits see several.
    code = (f"import sqlite3\nc = sqlite3.connect({str(tmp_path / 's' / 'catalog.sqlite')!r}, isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode = WAL'); c.execute('PRAGMA synchronous = NORMAL')\n"
            "c.execute('PRAGMA wal_autocheckpoint = 40'); c.execute('CREATE TABLE t (x)')\n"
            "for i in range(200):\n    c.execute('INSERT INTO t VALUES (?)', (bytes(3000),))\n")
    proc = subprocess.run(["strace", "-f", "-y", "-e", "trace=fsync,fdatasync,pwrite64", "-o", str(out),
                           sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("strace cannot trace here: " + proc.stderr.strip()[:200])
    assert proc.returncode == 0, proc.stderr
    db, wal = str(tmp_path / "s" / "catalog.sqlite"), str(tmp_path / "s" / "catalog.sqlite-wal")
    events = []  # ("sync" | "write", "db" | "wal") in order, for this process's catalog
    for line in out.read_text().splitlines():
        for name, target in (("db", db), ("wal", wal)):
            if f"<{target}>" in line:
                events.append(("sync" if "sync(" in line else "write", name))
    events = events[events.index(("write", "wal")):]  # from the first commit in WAL mode
    checkpoints = [i for i, e in enumerate(events) if e == ("write", "db")
                   and events[i - 1] != ("write", "db")]  # the first page copied of each
    assert len(checkpoints) >= 4, events
    for start in checkpoints:
        assert ("sync", "wal") in events[max(0, start - 2):start], events[max(0, start - 5):start + 1]
        end = start
        while end < len(events) and events[end] == ("write", "db"):
            end += 1
        assert events[end] == ("sync", "db"), events[start:end + 2]


def test_the_counters_close_before_the_connection(tmp_path, monkeypatch):
    """The WAL's file is kept open between fsyncs, valid while the catalog's connection is open (SQLite
    deletes the WAL when the last connection closes). Closing the store closes the counters first (after an
    fsync in flight); a commit still waiting then fails loudly rather than syncing a file that is gone."""
    path = tmp_path / "s"
    store = ek.open_store(path, durability="full")
    store.append("a", ek.Event("E"))
    sync = store._catalog._wal_sync
    number = sync.committed()  # a commit whose appender has not synced yet
    order: list[str] = []
    real_sync_close, real_conn = wal_sync.WalSync.close, store._catalog.conn

    monkeypatch.setattr(wal_sync.WalSync, "close", lambda self: (order.append("counters"), real_sync_close(self)))

    class Conn:  # records the connection's close, passes everything else through
        def __getattr__(self, name):
            return getattr(real_conn, name)

        def close(self):
            order.append("connection")
            real_conn.close()

    store._catalog.conn = Conn()
    store.close()
    assert order == ["counters", "connection"]
    with pytest.raises(ek.StoreError, match="closed before"):
        sync.wait_durable(number)
    with ek.open_store(path, durability="full") as again:  # a new WAL file: synced, with its folder
        spy = _SyncSpy(monkeypatch, path)
        again.append("a", ek.Event("E"))
        targets = [target for target, _ in spy.calls]
        assert str(path / "catalog.sqlite-wal") in targets and str(path) in targets, targets


def test_postgres_catalogs_key_their_groups_by_durability_too(postgres_url):
    """The same rule for a server catalog: a "full" append is never committed in a "normal" session."""
    from eventkit.store.postgres_catalog import PostgresCatalog

    full = PostgresCatalog.open(postgres_url, durability="full")
    normal = PostgresCatalog.open(postgres_url, durability="normal")
    try:
        assert group_commit._group(full) is not group_commit._group(normal)
    finally:
        full.close()
        normal.close()


@pytest.mark.parametrize("garbage", [{"synced": 2**62}, {"failed_from": 1, "failed_to": 2**62}])
def test_counters_from_another_store_do_not_skip_or_fail_the_fsync(tmp_path, monkeypatch, garbage):
    """A counters file that cannot be this store's (say, copied over from another store: synced or a failure
    mark past the commit count) must not let an append return unsynced, nor fail it: the fsync runs."""
    path = tmp_path / "store"
    with ek.open_store(path, durability="full") as store:
        store.append("s", [ek.Event("Opened", {})])
    words = [5, 5, 0, 0]
    words[1] = garbage.get("synced", 5)
    words[2], words[3] = garbage.get("failed_from", 0), garbage.get("failed_to", 0)
    counters = path / ("catalog.sqlite" + wal_sync.SYNC_SUFFIX)
    raw = bytearray(counters.read_bytes())
    memoryview(raw).cast("Q")[:4] = memoryview(bytearray(struct.pack("4Q", *words))).cast("Q")
    counters.write_bytes(bytes(raw))
    spy = _SyncSpy(monkeypatch, path)
    with ek.open_store(path, durability="full") as store:
        store.append("s", [ek.Event("Deposited", {"amount": 1})])
        store.append("s", [ek.Event("Deposited", {"amount": 2})])
        assert store.head == 3
    assert len(spy.wal_syncs()) == 2
    counters_now = _counters(path)
    assert counters_now["synced"] <= counters_now["commits"]
