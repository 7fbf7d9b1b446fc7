"""Durability "full" on the SQLite catalog: one fsync of the WAL shared by every commit made before it.

With ``synchronous=FULL`` SQLite fsyncs the WAL inside COMMIT, while the commit holds the write lock:
every commit pays its own fsync, and the next cannot start until it ends. Instead a catalog at
durability "full" commits with ``synchronous=NORMAL`` (the WAL is written, not synced; the write lock
is released at once) and then makes the commit durable here, outside the write lock:

- A small file beside the catalog, ``catalog.sqlite-sync``, mapped into memory by every process that
  writes the store at durability "full", holds ``commits`` (a counter, raised by one after each commit
  while the writer's file lock is still held) and ``synced`` (every commit numbered up to it is durable).
- After its commit (with SQLite's and the writers' locks released) an appender waits for ``synced``
  to reach its number: it returns at once when another appender's fsync has covered it. Otherwise it
  takes the sync lock (a thread lock, then an exclusive ``flock`` on the file, without waiting), reads
  ``commits`` (every commit numbered up to it has been written to the WAL), fsyncs the ``-wal`` file
  (``fdatasync``: its data and size) and stores ``synced``. When an fsync is already in flight (it
  began before this commit, so cannot cover it) the appender waits for it on a shared ``flock``,
  with every other waiter, and looks again: one of them then syncs for all.

So processes share fsyncs (the commits made while one is in flight are covered together by the next),
and commit while one is in flight. Why it is sound:

- The WAL is one file written in commit order and recovered as a prefix of valid commits: an fsync after
  commit *n* was written makes *n* and every commit before it durable.
- SQLite's own checkpoints under ``synchronous=NORMAL`` sync the WAL before copying it into the
  database and the database after (SQLite's documented behaviour in WAL mode), so frames moved out of
  the WAL are durable before a later writer restarts the WAL from its start; that restart syncs the
  new WAL header (SQLite does so whenever syncing is on). The last connection to close checkpoints and
  deletes the WAL the same way: an fsync that finds no ``-wal`` file syncs the database instead. (This
  holds for connections that sync their checkpoints: eventkit's, and SQLite's default; a tool that
  writes or closes the catalog with ``synchronous=OFF`` would void it, as it would under FULL.)
  The ``-wal`` file is opened at the first fsync and kept: while this catalog's connection is open
  no other can delete it. A newly opened ``-wal`` file also has its folder entry synced.
- A commit is visible to readers before its fsync (the trade-off: a reader may act on an append that a
  power cut then loses, together with every later one; a killed process loses nothing). Its appender
  returns only after the fsync.
- A process killed between its commit and its fsync never answered its caller; its commit is covered
  by the next fsync of any appender, or by a checkpoint.
- An fsync that fails marks the commits it was to cover (from the first not yet synced to ``commits``):
  their appenders raise, even if a later fsync succeeds (Linux may drop the pages a failed fsync could
  not write). Commits in that range confirmed by an earlier fsync are unaffected.
- ``synced`` and the failure marks never pass ``commits`` (each is set from a value of ``commits`` read
  before an fsync). A file where they do (copied over from another store, say) is not trusted: the
  appender fsyncs and repairs ``synced``, and the marks are ignored, rather than skip a sync or fail.
- ``commits`` is written by one writer at a time (under the writer's file lock) and read by syncers
  without it: the words are 8-byte aligned in a page-aligned map and read and written as native
  unsigned 64-bit integers (one load or store on 64-bit platforms, so never half-updated). On 32-bit
  platforms or without ``flock`` (Windows) this is not used: SQLite keeps ``synchronous=FULL``.

May use the standard library and :mod:`eventkit.common`.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
from pathlib import Path

from eventkit.common.errors import StoreError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

SYNC_SUFFIX = "-sync"  # catalog.sqlite-sync: the shared commit and sync counters
_SIZE = mmap.PAGESIZE
# Word indices in the map (native unsigned 64-bit integers).
_COMMITS, _SYNCED, _FAILED_FROM, _FAILED_TO = 0, 1, 2, 3

SUPPORTED = fcntl is not None and sys.maxsize > 2**32


class WalSync:
    """The shared commit and sync counters of one catalog file, as seen by one catalog object.

    Used only while that catalog's connection is open (it is closed before the connection).

    Args:
        catalog_path: The catalog file (``catalog.sqlite``); its ``-wal`` file is the one synced.

    Raises:
        OSError: The counters' file cannot be created or mapped (the caller falls back to
            ``synchronous=FULL``).
    """

    def __init__(self, catalog_path: Path) -> None:
        catalog_path = Path(os.path.abspath(catalog_path))  # the process may change its working folder
        self._wal = str(catalog_path) + "-wal"
        self._db = str(catalog_path)
        self._folder = str(catalog_path.parent)
        self._lock = threading.Lock()  # flock does not exclude threads sharing one file description
        self._known_wal: tuple[int, int] | None = None  # the -wal file whose folder entry is synced
        self._closed = False
        self._wal_fd: int | None = None  # opened at the first fsync, kept (see _sync_wal)
        self._fd = os.open(str(catalog_path) + SYNC_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(self._fd).st_size < _SIZE:
                os.ftruncate(self._fd, _SIZE)  # extends with zeros; never shortens another's counters
            self._map = mmap.mmap(self._fd, _SIZE)
        except BaseException:
            os.close(self._fd)
            raise
        self._words = memoryview(self._map).cast("Q")

    def committed(self) -> int:
        """Count a commit just made; called while the writer's file lock is held. Returns its number."""
        number = self._words[_COMMITS] + 1
        self._words[_COMMITS] = number
        return number

    def wait_durable(self, number: int) -> None:
        """Return once commit ``number`` is durable: covered by an fsync begun after it, or by this one.

        Raises:
            StoreError: The fsync that was to cover it failed: the commit is stored and visible, but
                may not survive a power cut.
        """
        words = self._words
        while True:
            if words[_FAILED_FROM] and self._failed(number):
                raise self._failure(None)
            if number <= words[_SYNCED] <= words[_COMMITS]:
                return  # another appender's fsync began after this commit
            with self._lock:
                if self._closed:
                    raise StoreError(f"the store at {self._folder} was closed before its last commit was made durable")
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    # An fsync in flight, which began before this commit: wait for it to end, sharing the
                    # lock with every other waiter (all wake together, none waits for another's check),
                    # then look again: the next fsync (perhaps this appender's) covers this commit.
                    fcntl.flock(self._fd, fcntl.LOCK_SH)  # releases the GIL while it waits
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    continue
                try:
                    if words[_FAILED_FROM] and self._failed(number):
                        raise self._failure(None)
                    # synced never passes commits (it is set to a value of commits read before an fsync);
                    # if it does, the file was replaced (say, copied from another store): fsync, then repair.
                    trusted = words[_SYNCED] <= words[_COMMITS]
                    if words[_SYNCED] < number or not trusted:
                        covered = max(words[_COMMITS], number)  # every commit counted so far is in the WAL
                        try:
                            self._sync_wal()
                        except OSError as e:
                            # From the first commit not confirmed durable: sticky, as a later fsync may not
                            # rewrite them.
                            first = words[_SYNCED] + 1
                            words[_FAILED_FROM] = min(words[_FAILED_FROM], first) if words[_FAILED_FROM] else first
                            words[_FAILED_TO] = max(words[_FAILED_TO], covered)
                            raise self._failure(e) from e
                        words[_SYNCED] = max(words[_SYNCED], covered) if trusted else covered
                    return
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _failed(self, number: int) -> bool:
        words = self._words
        # A real mark never reaches past commits (it ends at a value of commits read before the fsync).
        return 0 < words[_FAILED_FROM] <= number <= words[_FAILED_TO] <= words[_COMMITS]

    def _failure(self, error: OSError | None) -> StoreError:
        why = f": {error}" if error is not None else " (in another appender)"
        return StoreError(
            f"the change was committed to the store at {self._folder}, but the fsync that makes it durable "
            f"failed{why}; it is visible now but may not survive a power cut (check the disk; do not assume "
            "it was not stored)"
        )

    def _sync_wal(self) -> None:
        # The WAL's file stays the same while this process's connection is open (SQLite deletes it only
        # when the last connection closes; the catalog closes this object first), so it is opened once.
        # No fstat here to check: a stat before the fsync made each append ~50 µs slower (ext4 then
        # updates the file's times on the next write).
        fd = self._wal_fd
        if fd is None:
            try:
                fd = os.open(self._wal, os.O_RDONLY)
            except FileNotFoundError:
                # No WAL: deleted the same way after the commit. Syncing the database covers that.
                db = os.open(self._db, os.O_RDONLY)
                try:
                    _datasync(db)
                finally:
                    os.close(db)
                return
            self._wal_fd = fd
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != self._known_wal:
                folder = os.open(self._folder, os.O_RDONLY)
                try:
                    os.fsync(folder)  # a -wal file created since: its name must survive too
                finally:
                    os.close(folder)
                self._known_wal = (st.st_dev, st.st_ino)
        _datasync(fd)

    def close(self) -> None:
        """Close the counters' file (waits for an fsync in another thread); the map lives while referenced."""
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)
                if self._wal_fd is not None:
                    os.close(self._wal_fd)


def _datasync(fd: int) -> None:
    # Looked up at each call (tests count the calls by replacing os.fdatasync / os.fsync).
    sync = getattr(os, "fdatasync", None) or os.fsync
    sync(fd)


def open_wal_sync(catalog_path: Path) -> WalSync | None:
    """The shared counters for ``catalog_path``, or None where they cannot be used (see the module)."""
    if not SUPPORTED:
        return None
    try:
        return WalSync(catalog_path)
    except OSError:
        return None
