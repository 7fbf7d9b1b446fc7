"""Group commit: appends that arrive together share one catalog transaction and one fsync.

With an fsync per commit a durable append costs a disk flush (milliseconds), and eight threads
appending at once would queue for eight flushes, each on its own SQLite connection, waiting for the
file lock in SQLite's sleeping busy handler. Here the appenders of one catalog file in a process
form groups instead: the first to arrive leads, opens the write transaction (after the group before
it has committed), and every appender that arrives before the leader commits joins. Each member
runs its own append on the shared transaction, one at a time, inside its own SAVEPOINT, so a refused
append (a wrong expected version, a bad payload) is rolled back alone and raises in its own caller.
The leader commits once all members are done; every member returns only after that commit, and a
failed commit fails every member (none of the group is stored).

Each append keeps its meaning: its checks see the appends before it in the group, its positions
follow theirs, and it is acknowledged only once durable. Processes still take turns on SQLite's
write lock; within a process, the waiting and the fsync are shared.

May use the standard library and the catalog interface.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

from eventkit.store.catalog_interface import CatalogBackend


class _Batch:
    """One group: its members, its transaction, and how it ended."""

    def __init__(self) -> None:
        self.members = 0
        self.finished = 0
        self.tx: Any = None
        self.open = False  # the leader's transaction is open: members may run
        self.closed = False  # the leader is committing: no one joins any more
        self.done = False  # committed (or failed: see error)
        self.error: BaseException | None = None


class _Group:
    """The appenders of one catalog file in this process."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending: _Batch | None = None
        self.tx_lock = threading.Lock()  # one open transaction at a time
        self.body_lock = threading.Lock()  # one member at a time on the shared transaction
        self.contended_at = float("-inf")  # when a group last had more than one member


_GROUPS: dict[str, _Group] = {}
_GROUPS_LOCK = threading.Lock()
_BY_CATALOG: weakref.WeakKeyDictionary[Any, _Group] = weakref.WeakKeyDictionary()  # skips resolve() per append
_NAMES = itertools.count()
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
    # a catalog file, or a server catalog's redacted URL and schema
    key = str(catalog.path.resolve()) if hasattr(catalog.path, "resolve") else str(catalog.path)
    with _GROUPS_LOCK:
        group = _GROUPS.get(key)
        if group is None:
            group = _GROUPS[key] = _Group()
        _BY_CATALOG[catalog] = group
        return group


@contextmanager
def write(catalog: CatalogBackend) -> Iterator[Any]:
    """A write transaction for one append, shared with the appends that arrive with it.

    Used like ``catalog.write()``: the block runs inside the transaction (its own savepoint); an
    exception from it rolls back this append only and propagates; leaving the block returns once the
    group has committed.
    """
    group = _group(catalog)
    with group.cond:
        # Alone (no group forming, none committing): a plain transaction, no savepoint. Appends that
        # arrive meanwhile form the next group behind it.
        # Not right after a shared commit, though: its members come back together, and the first
        # alone would make the rest wait for a commit of one.
        quiet = time.monotonic() - group.contended_at > _QUIET_SECONDS
        solo = quiet and group.pending is None and group.tx_lock.acquire(blocking=False)
        if not solo:
            batch = group.pending
            leader = batch is None or batch.closed
            if leader:
                batch = group.pending = _Batch()
            batch.members += 1
    if solo:
        try:
            with catalog.write() as tx:
                yield tx
        finally:
            group.tx_lock.release()
        return
    if leader:
        if not quiet:
            time.sleep(0)  # let the appenders that are about to arrive join before the transaction opens
        opened = _open(catalog, group, batch)
    else:
        with group.cond:
            group.cond.wait_for(lambda: batch.open or batch.done)
        if batch.error is not None:  # the leader could not open the transaction
            raise batch.error
    body_error: BaseException | None = None
    with group.body_lock:
        name = f"ek_append_{next(_NAMES)}"
        catalog.savepoint(batch.tx, "SAVEPOINT", name)
        try:
            yield batch.tx
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the group's bookkeeping
            body_error = e
        try:
            if body_error is not None:
                catalog.savepoint(batch.tx, "ROLLBACK TO", name)
            catalog.savepoint(batch.tx, "RELEASE", name)
        except BaseException as e:  # noqa: BLE001 - the transaction is broken: the commit will fail too
            body_error = body_error or e
    with group.cond:
        batch.finished += 1
        group.cond.notify_all()
    if leader:
        _commit(group, batch, opened)
    else:
        with group.cond:
            group.cond.wait_for(lambda: batch.done)
    if body_error is not None:
        raise body_error
    if batch.error is not None:
        raise batch.error


def _open(catalog: CatalogBackend, group: _Group, batch: _Batch) -> Any:
    group.tx_lock.acquire()
    try:
        opened = catalog.write()
        tx = opened.__enter__()
    except BaseException as e:
        with group.cond:
            batch.error, batch.closed, batch.done = e, True, True
            if group.pending is batch:
                group.pending = None
            group.cond.notify_all()
        group.tx_lock.release()
        raise
    with group.cond:
        batch.tx, batch.open = tx, True
        group.cond.notify_all()
    return opened


def _commit(group: _Group, batch: _Batch, opened: Any) -> None:
    with group.cond:
        group.cond.wait_for(lambda: batch.finished == batch.members)
        batch.closed = True  # in the same critical section: no one joins after the last member finished
        if group.pending is batch:
            group.pending = None
        if batch.members > 1:
            group.contended_at = time.monotonic()
    try:
        opened.__exit__(None, None, None)  # COMMIT: one fsync for the whole group
    except BaseException as e:  # noqa: BLE001 - every member fails with it
        batch.error = e
    finally:
        group.tx_lock.release()
        with group.cond:
            batch.done = True
            group.cond.notify_all()
