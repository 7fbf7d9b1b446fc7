"""Group commit: appends that arrive together share one catalog transaction and one fsync.

With an fsync per commit a durable append costs a disk flush (milliseconds), and eight threads
appending at once would queue for eight flushes, each on its own SQLite connection, waiting for the
file lock in SQLite's sleeping busy handler. Here the appenders of one catalog file in a process
form groups instead: the first to arrive leads; it opens the write transaction (after the group
before it has committed) and runs every member's append itself, one after another, each inside its
own SAVEPOINT, taking in appenders that arrive while it works. A refused append (a wrong expected
version, a bad payload) is rolled back alone and raises in its own caller. The leader then commits
once; every member returns only after that commit, and a failed commit fails every member (none
of the group is stored).

The leader running the members' work (rather than each member taking turns on the shared
transaction) keeps the database work in one thread: no hand-over of the connection and the GIL
between eight threads per append, and members sleep until their group is durable.

Each append keeps its meaning: its checks see the appends before it in the group, its positions
follow theirs, and it is acknowledged only once durable. Processes take turns on SQLite's write
lock; within a process, the waiting and the fsync are shared.

The fsync across processes (durability "full" on the SQLite catalog): COMMIT does not sync; leaving
the write transaction releases SQLite's write lock and the writers' file lock, then waits for an
fsync of the WAL shared with every commit made before it, by this process or another (see
:mod:`.wal_sync`), so other processes commit while it is in flight. The group's own ``tx_lock``
stays held until the commit is durable: this process's appenders arriving meanwhile gather into the
next group, as they did while COMMIT's own fsync ran (releasing it at COMMIT was measured: groups
of 6 instead of 8 with 8 threads, more CPU per append and no gain, as no other group had formed).
Appenders at different durabilities never share a group: the leader's catalog decides the sync.

May use the standard library and the catalog interface.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any, Callable, Sequence, TypeVar

from eventkit.store.catalog_interface import CatalogBackend

T = TypeVar("T")


class _Member:
    """One append waiting in a group: its work, what the work returned or raised, and its wake-up.

    ``ready`` is a lock taken at creation and released by the leader once the group has ended:
    each member sleeps on its own lock, so the leader wakes them without their queueing for the
    lock of one shared condition (as an Event's waiters do) after the commit.
    """

    __slots__ = ("work", "fast", "deferred", "result", "error", "ready", "streams")

    def __init__(self, work: Callable[[Any], Any], streams: Sequence[str] = (),
                 fast: Callable[[Any, Deferred], Any] | None = None) -> None:
        self.work, self.streams, self.fast = work, streams, fast
        self.deferred: Deferred | None = None  # the transaction's put-off writes, set by the leader
        self.result: Any = None
        self.error: BaseException | None = None
        self.ready = threading.Lock()
        self.ready.acquire()


#: What a member's ``fast`` work returns when it cannot defer its writes: the leader then runs its ``work``.
SLOW: Any = object()


class Deferred:
    """Writes the members of one transaction put off, to be made together before it commits.

    A member's ``fast`` work checks its append and records what it would write in an object of its own
    kept in ``memo`` (one per kind of work, so the members' rows go in one statement each), whose
    ``flush`` it adds to ``writes``. It makes no change itself, so a refusal (it raises) needs no
    savepoint. The leader flushes before COMMIT and before any member that runs its ``work`` (whose
    statements must see the earlier members' rows); a flush forgets ``memo``, so the next fast member
    reads the state afresh.
    """

    __slots__ = ("writes", "memo")

    def __init__(self) -> None:
        self.writes: list[Callable[[Any], None]] = []
        self.memo: dict[str, Any] = {}

    def flush(self, tx: Any) -> None:
        """Make the put-off writes (a failure fails the whole transaction: members' rows are missing)."""
        writes, self.writes = self.writes, []
        self.memo.clear()
        for write in writes:
            write(tx)


class _Batch:
    """One group: its members, and how it ended."""

    def __init__(self) -> None:
        self.queue: list[_Member] = []
        self.closed = False  # the leader is committing: no one joins any more
        self.error: BaseException | None = None

    @property
    def members(self) -> int:
        return len(self.queue)


class _Group:
    """The appenders of one catalog file in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards pending and the open batch's queue
        self.pending: _Batch | None = None
        self.tx_lock = threading.Lock()  # one open transaction at a time
        self.contended_at = float("-inf")  # when a group last had more than one member


_GROUPS: dict[str, _Group] = {}
_GROUPS_LOCK = threading.Lock()
_BY_CATALOG: weakref.WeakKeyDictionary[Any, _Group] = weakref.WeakKeyDictionary()  # skips resolve() per append
_QUIET_SECONDS = 0.05  # no shared commit for this long: a lone appender takes a plain transaction


def _forget_groups() -> None:
    # A forked child must not inherit a group whose locks a parent's thread holds: it starts afresh.
    global _GROUPS_LOCK
    _GROUPS_LOCK = threading.Lock()
    _GROUPS.clear()
    _BY_CATALOG.clear()


os.register_at_fork(after_in_child=_forget_groups)


def _group(catalog: CatalogBackend) -> _Group:
    group = _BY_CATALOG.get(catalog)
    if group is not None:
        return group
    # a catalog file, or a server catalog's redacted URL and schema; and its durability: an append at
    # "full" must not be committed by a leader whose catalog does not sync
    key = str(catalog.path.resolve()) if hasattr(catalog.path, "resolve") else str(catalog.path)
    key += "|" + str(getattr(catalog, "durability", ""))
    with _GROUPS_LOCK:
        group = _GROUPS.get(key)
        if group is None:
            group = _GROUPS[key] = _Group()
        _BY_CATALOG[catalog] = group
        return group


def run(catalog: CatalogBackend, work: Callable[[Any], T], streams: Sequence[str] = (),
        fast: Callable[[Any, Deferred], Any] | None = None) -> T:
    """Run ``work(tx)`` in a write transaction shared with the appends that arrive with it.

    ``work`` runs inside the transaction (its own savepoint when shared), possibly in another
    appender's thread, while this one waits; it must not block on other appenders. Its exception
    rolls back this append only and is raised here; its result is returned once the group has
    committed. ``streams``: those the work reads the heads of (a catalog with ``prefetch_heads``
    reads the queued members' in one round trip). ``fast``: the same append with its writes put off
    (see :class:`Deferred`), used in a shared transaction; it returns :data:`SLOW` (having written
    nothing) when it cannot, and ``work`` runs instead.
    """
    group = _group(catalog)
    with group.lock:
        # Alone (no group forming, none committing): a plain transaction, no savepoint. Appends that
        # arrive meanwhile form the next group behind it.
        # Not right after a shared commit, though: its members come back together, and the first
        # alone would make the rest wait for a commit of one.
        quiet = time.monotonic() - group.contended_at > _QUIET_SECONDS
        solo = quiet and group.pending is None and group.tx_lock.acquire(blocking=False)
        if not solo:
            member = _Member(work, streams, fast)
            batch = group.pending
            leader = batch is None
            if leader:
                batch = group.pending = _Batch()
            batch.queue.append(member)
    if solo:
        try:
            with catalog.write() as tx:
                return work(tx)
        finally:
            group.tx_lock.release()
    if leader:
        _lead(catalog, group, batch, quiet)
    else:
        member.ready.acquire()  # released once the group has committed (or failed: see batch.error)
    if member.error is not None:
        raise member.error
    if batch.error is not None:
        raise batch.error
    return member.result


def _close(group: _Group, batch: _Batch) -> None:
    """No one joins ``batch`` any more (called with ``group.lock`` held)."""
    batch.closed = True
    if group.pending is batch:
        group.pending = None


def _lead(catalog: CatalogBackend, group: _Group, batch: _Batch, quiet: bool) -> None:
    """Open the group's transaction, run every member's work in arrival order, commit once."""
    group.tx_lock.acquire()
    try:
        if not quiet:
            time.sleep(0)  # let the appenders that are about to arrive join before the transaction opens
        try:
            opened = catalog.write()
            tx = opened.__enter__()
        except BaseException as e:
            with group.lock:
                _close(group, batch)
            batch.error = e
            return
        done = fetched = 0
        deferred = Deferred()
        prefetch = getattr(catalog, "prefetch_heads", None)
        try:
            while True:
                with group.lock:
                    if done == len(batch.queue):
                        # In the same critical section as the check: no one joins after the last member ran.
                        _close(group, batch)
                        if done > 1:
                            group.contended_at = time.monotonic()
                        break
                    member = batch.queue[done]
                    ahead, fetched = batch.queue[fetched:] if prefetch else (), len(batch.queue)
                if ahead:
                    try:
                        prefetch(tx, [s for m in ahead for s in m.streams])
                    except Exception:  # noqa: BLE001 - a read ahead only: each member reads (or fails) by itself
                        pass
                member.deferred = deferred
                _run_member(catalog, tx, member, done)
                done += 1
            deferred.flush(tx)  # inside the try: a failure here fails the group, as a failed COMMIT does
        except BaseException as e:
            # Raised in the leader outside the members' work (an interrupt, or the put-off writes failing):
            # nothing of the group is stored, and every member hears so (none may return as if its append
            # had committed).
            with group.lock:
                _close(group, batch)
            batch.error = e
            try:
                opened.__exit__(type(e), e, e.__traceback__)
            except BaseException as raised:  # noqa: BLE001 - the rollback's own failure: e is what members hear of
                if raised.__cause__ is e:  # e as the catalog reports it (a database error as StoreError)
                    batch.error = raised
                    raise raised  # noqa: B904 - raised's cause is e already
            raise
        _commit(group, batch, opened)
    finally:
        group.tx_lock.release()
        for member in batch.queue:  # closed: no one joins any more
            member.ready.release()


def _run_member(catalog: CatalogBackend, tx: Any, member: _Member, index: int) -> None:
    deferred = member.deferred
    if member.fast is not None and deferred is not None:
        try:
            result = member.fast(tx, deferred)
        except BaseException as e:  # noqa: BLE001 - a refusal, raised in the member's own thread; nothing written
            member.error = e
            return
        if result is not SLOW:
            member.result = result
            return
    # Its statements must see the earlier members' rows; a failure here is the group's (raised in the leader).
    if deferred is not None:
        deferred.flush(tx)
    # Named by the member's place in its group: unique within the transaction, and the same few
    # statement texts in every group, so SQLite keeps them prepared (a new name per append was
    # three statements parsed per append).
    name = f"ek_append_{index}"
    try:
        catalog.savepoint(tx, "SAVEPOINT", name)
    except BaseException as e:  # noqa: BLE001 - the transaction is broken: the commit will fail too
        member.error = e
        return
    try:
        member.result = member.work(tx)
    except BaseException as e:  # noqa: BLE001 - raised in the member's own thread
        member.error = e
    try:
        if member.error is not None:
            catalog.savepoint(tx, "ROLLBACK TO", name)
        catalog.savepoint(tx, "RELEASE", name)
    except BaseException as e:  # noqa: BLE001 - the transaction is broken: the commit will fail too
        member.error = member.error or e


def _commit(group: _Group, batch: _Batch, opened: Any) -> None:
    """COMMIT the group's transaction and wait until it is durable (one fsync for the whole group, shared
    with other processes' commits); a failure fails every member."""
    try:
        opened.__exit__(None, None, None)
    except BaseException as e:  # noqa: BLE001 - every member fails with it
        batch.error = e
