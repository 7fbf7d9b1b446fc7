"""The SQLite catalog (``catalog.sqlite``): its schema, creation, connection and transactions.

The authority on positions, stream heads, segments, the hot log and checkpoints: the default
implementation of :class:`~eventkit.store.catalog_interface.CatalogBackend`. Its SQL statements live
in :mod:`.catalog_queries`; nothing else in the package runs SQL on the catalog.

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.catalog_queries` and :mod:`.wal_sync`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from eventkit.store.envelope import new_id_prefix

try:
    import fcntl
except ImportError:  # Windows: writers wait in SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]
from eventkit.common.errors import StoreError
from eventkit.store.catalog_queries import SQLiteQueries
from eventkit.store.wal_sync import WalSync, open_wal_sync

# Saved fold states (written by :mod:`.fold_state_files`): one row per fold definition and cut.
FOLD_STATES_SCHEMA = """
CREATE TABLE IF NOT EXISTS fold_states (
    fingerprint TEXT NOT NULL,
    position INTEGER NOT NULL,
    fold TEXT NOT NULL,
    max_occurred INTEGER,
    streams INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, position)
) WITHOUT ROWID
"""

# The hash chain over commits (see eventkit.store.integrity) and crypto-shredding's tables.
PROOF_SCHEMA = """
CREATE TABLE IF NOT EXISTS chain (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS personal_fields (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    subject TEXT NOT NULL,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subject_keys (
    key_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    key BLOB,
    created_at REAL NOT NULL,
    erased_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subject_keys_subject ON subject_keys (subject, erased_at)
"""

FORMAT_VERSION = 1
#: WAL pages between checkpoints by durability (4 KB pages; "full" keeps SQLite's default): see Catalog.__init__.
WAL_CHECKPOINT_PAGES = {"normal": 8192, "full": 1000}
CATALOG_NAME = "catalog.sqlite"
NEW_CATALOG_PREFIX = ".catalog-new-"  # a catalog being created (see Catalog.create)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT PRIMARY KEY,
    stream_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fields (name TEXT PRIMARY KEY, type TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segments (
    segment_id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    stream_type TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    min_occurred INTEGER NOT NULL,
    max_occurred INTEGER NOT NULL,
    min_recorded INTEGER NOT NULL,
    max_recorded INTEGER NOT NULL,
    retired_at REAL,
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS segments_live ON segments (retired_at, first_position);
CREATE TABLE IF NOT EXISTS stream_segments (
    stream_id TEXT NOT NULL,
    segment_id INTEGER NOT NULL,
    PRIMARY KEY (stream_id, segment_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hot (
    position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    stream_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    data TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS hot_stream ON hot (stream_id, version);
CREATE TABLE IF NOT EXISTS event_ids (event_id TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
""" + FOLD_STATES_SCHEMA + ";" + PROOF_SCHEMA + ";"


WRITER_QUEUE_SUFFIX = "-writers"  # catalog.sqlite-writers: an empty file whose lock orders the writers


class _WriterQueue:
    """A blocking file lock taken around every write transaction, in front of SQLite's write lock.

    Writers of other processes that find SQLite's write lock taken wait in its busy handler, which
    sleeps (1, 2, 5 ... up to 100 ms) and polls: with eight writer processes at an fsync per commit,
    most of the time went to sleeping past the moment the lock came free. Waiting on ``flock``
    instead, the kernel hands the lock to the next writer as soon as it is released. SQLite's own
    lock still decides who writes (a writer without this queue, an older eventkit, stays correct);
    this only makes waiting prompt. None where the file cannot be made (read-only) or on Windows.
    """

    def __init__(self, catalog_path: Path, *, enabled: bool = True) -> None:
        self.fd: int | None = None
        if enabled and fcntl is not None:
            try:
                self.fd = os.open(str(catalog_path) + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                self.fd = None

    def __enter__(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # releases the GIL while it waits

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _WriteTransaction:
    """``Catalog.write()``: a context manager object rather than a generator, as every append opens one.

    Entering takes the catalog's thread lock, the writers' file lock and SQLite's write lock
    (BEGIN IMMEDIATE); leaving commits, or rolls back when the block raised, and releases them.
    SQLite's failures come out as :class:`StoreError` (see ``Catalog._translate``).

    At durability "full" leaving then waits until the commit is durable, with the locks released (see
    :mod:`.wal_sync`): other processes commit during the fsync, and share it.
    """

    __slots__ = ("catalog",)

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __enter__(self) -> sqlite3.Connection:
        catalog = self.catalog
        catalog._lock.acquire()
        try:
            catalog._check_open()
            if catalog.read_only:
                raise StoreError(
                    f"the store at {catalog.path.parent} is read-only (this process cannot write its folder or "
                    "catalog): it can be read, not changed"
                )
            catalog._writers.__enter__()
            try:
                catalog.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                catalog._writers.__exit__()
                raise
        except sqlite3.Error as e:
            catalog._lock.release()
            raise catalog._translate(e, "nothing of this change was stored") from e
        except BaseException:
            catalog._lock.release()
            raise
        return catalog.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        catalog = self.catalog
        conn = catalog.conn
        number = 0  # the commit's number in the shared sync counters (0: nothing to sync)
        try:
            if kind is None:
                conn.execute("COMMIT")
                if catalog._wal_sync is not None:  # counted while the writers' lock is held: see wal_sync
                    number = catalog._wal_sync.committed()
            elif conn.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            if kind is None and conn.in_transaction:  # a failed COMMIT leaves nothing of the change behind
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            failure = catalog._translate(e, "nothing of this change was stored")
            if failure is e and kind is not None:
                raise
            raise failure from (e if kind is None else error)
        finally:
            catalog._writers.__exit__()
            catalog._lock.release()
        if isinstance(error, sqlite3.Error):
            failure = catalog._translate(error, "nothing of this change was stored")
            if failure is not error:
                raise failure from error
        if number:  # raises StoreError when the fsync failed: the change is stored, maybe not durable
            catalog._wal_sync.wait_durable(number)  # type: ignore[union-attr]


class Catalog(SQLiteQueries):
    """One SQLite connection to a store's catalog, used from one thread at a time.

    Args:
        path: The catalog file.
        durability: ``"normal"`` (WAL, synchronous=NORMAL: an append survives a killed process)
            or ``"full"`` (it also survives a power cut: each commit returns after an fsync of the WAL,
            shared with the commits around it, made outside the write lock: see :mod:`.wal_sync`;
            synchronous=FULL where that cannot be used).
    """

    def __init__(self, path: Path, *, durability: str = "normal") -> None:
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = path
        self.durability = durability
        self._lock = threading.RLock()
        self._closed = False
        # A catalog this process cannot write (a read-only mount, an archive, a colleague's
        # share) is opened read-only: reads work, a write is a clear StoreError.
        self.read_only = not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        self._writers = _WriterQueue(path, enabled=not self.read_only)
        self._wal_sync: WalSync | None = None
        try:
            self.conn = self._connect_read_only() if self.read_only else sqlite3.connect(
                str(path), isolation_level=None, timeout=120.0, check_same_thread=False
            )
            self.conn.execute("PRAGMA busy_timeout = 120000")
            if not self.read_only:
                mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                wal = self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
                # the counters are raised under the writers' file lock: only where there is one
                shared = durability == "full" and wal and self._writers.fd is not None
                self._wal_sync = open_wal_sync(path) if shared else None
                # Under "full" with shared fsyncs SQLite commits without one; each commit is synced after.
                synchronous = "NORMAL" if self._wal_sync is not None else durability.upper()
                self.conn.execute(f"PRAGMA synchronous = {synchronous}")
                # A checkpoint (copying the WAL into the catalog) costs two fsyncs whatever its size, and
                # the committing append waits for it. Without an fsync per commit those are an append's
                # only fsyncs: an append writes ~5 pages, so SQLite's default (a checkpoint per 1,000
                # pages) would stall every ~200th append; amortise them over ~1,600. With one per
                # commit, keep the WAL small instead: once it has filled it is overwritten in place,
                # and an fsync of a WAL that keeps growing also flushes its size (measured: ~2x slower).
                self.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES[durability]}")
            self.conn.execute("PRAGMA cache_size = -65536")
            self._check_format()
            if not self.read_only:
                self._add_missing_tables()
            self.id_prefix = self._id_prefix()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise StoreError(f"{path} is not a readable eventkit catalog: {e}") from e
        except StoreError:
            self._close_quietly()
            raise

    def _connect_read_only(self) -> sqlite3.Connection:
        """Open a catalog that cannot be written.

        A WAL database needs its ``-shm`` index: where it exists (a writer elsewhere has the store
        open) ``mode=ro`` shares it and sees every commit. Where it cannot be created, the store
        is at rest, and ``immutable=1`` reads the file as it is, which is exact only when no
        ``-wal`` file holds commits not yet copied into it.
        """
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=120.0,
                                   check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            pass
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(
                f"the store at {self.path.parent} is read-only and its catalog has commits in {wal.name} "
                "that only a writable open can apply; open it once where it is writable (or copy it)"
            )
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    @staticmethod
    def create(path: Path) -> None:
        """Create a new catalog at ``path`` atomically; a no-op when another process got there first.

        The catalog is built whole under a temporary name and hard-linked into place, which fails
        when ``path`` exists: several processes creating one store at the same moment all
        succeed, and all open the one catalog that won.
        """
        tmp = path.with_name(f"{NEW_CATALOG_PREFIX}{uuid.uuid4().hex}")
        try:
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")  # kept in the file's header
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('format_version', ?), ('head', '0'), "
                    "('last_recorded', '0'), ('created_at', ?), ('id_prefix', ?), ('chain_since', '1')",
                    (str(FORMAT_VERSION), str(time.time()), new_id_prefix()),
                )
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection: SQLite folds the -wal file into the catalog
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created the store first: use its catalog
            except OSError:
                # No hard links on this file system: a rename, guarded by the check (a narrower race).
                if not path.exists():
                    os.replace(tmp, path)
        except sqlite3.Error as e:
            raise StoreError(f"cannot create the catalog {path}: {e}") from e
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _close_quietly(self) -> None:
        self._writers.close()
        if getattr(self, "_wal_sync", None) is not None:
            self._wal_sync.close()
        conn = getattr(self, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _check_format(self) -> None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path} is not an eventkit catalog ({e})") from e
        if row is None:
            raise StoreError(f"{self.path} is not an eventkit catalog (no format version)")
        version = int(row[0])
        if version > FORMAT_VERSION:
            raise StoreError(
                f"the store at {self.path.parent} was written by a newer eventkit (format "
                f"{version}; this eventkit reads up to {FORMAT_VERSION}); upgrade eventkit to open it"
            )

    def _add_missing_tables(self) -> None:
        """Tables added within format 1 (fold_states) are created in older catalogs on open."""
        have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "fold_states" not in have:
            with self.write() as conn:
                conn.execute(FOLD_STATES_SCHEMA)
        if "chain" not in have:
            with self.write() as conn:
                for statement in PROOF_SCHEMA.split(";"):
                    conn.execute(statement)
                columns = {r[1] for r in conn.execute("PRAGMA table_info(segments)")}
                if "sha256" not in columns:
                    conn.execute("ALTER TABLE segments ADD COLUMN sha256 TEXT")

    def _id_prefix(self) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'id_prefix'").fetchone()
        if row is None and self.read_only:
            return ""  # only an append (impossible here) would need it
        if row is None:  # a catalog from before generated ids carried a prefix
            with self.write() as conn:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('id_prefix', ?)", (new_id_prefix(),))
                row = conn.execute("SELECT value FROM meta WHERE key = 'id_prefix'").fetchone()
        return row[0]

    def close(self) -> None:
        """Close the connection; waits for a transaction running in another thread to end."""
        with self._lock:
            self._closed = True
            if self._wal_sync is not None:  # first: it syncs the WAL file this connection keeps in place
                self._wal_sync.close()
            self.conn.close()
            self._writers.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store at {self.path.parent} is closed; open it again with ek.open_store(path)")

    def write(self) -> _WriteTransaction:
        """One write transaction: takes the write lock at once, commits or rolls back whole.

        Used as ``with catalog.write() as conn:``.
        """
        return _WriteTransaction(self)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state."""
        with self._lock:
            self._check_open()
            try:
                self.conn.execute("BEGIN")
                try:
                    yield self.conn
                finally:
                    if self.conn.in_transaction:
                        self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._translate(e, "the read failed") from e

    def _translate(self, error: sqlite3.Error, outcome: str) -> BaseException:
        """The catalog's own failures (a full disk, an I/O error, a lock held too long) as StoreError.

        An IntegrityError or a misuse is a bug in eventkit, not a condition of the store: kept as is.
        """
        if isinstance(error, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return error
        text = str(error)
        hint = {"full": "free some disk space and retry", "I/O": "check the disk and retry",
                "locked": "another process held the store's write lock too long; retry",
                "readonly": "the store's folder or catalog is not writable"}
        what = next((h for k, h in hint.items() if k in text), "retry; if it persists the catalog may be damaged")
        return StoreError(f"the store's catalog {self.path} failed: {text}; {outcome} ({what})")

    def size_bytes(self) -> int:
        """Bytes the catalog takes on disk (its file with the -wal and -shm beside it)."""
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
