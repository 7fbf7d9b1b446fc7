"""The SQLite catalog: the authority on positions, stream heads, segments, the hot log and
checkpoints. Only the store uses it; nothing else knows the file layout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from eventkit.store.envelope import new_id_prefix
from eventkit.common.errors import StoreError

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
LINK_COLUMNS = "seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash"

FORMAT_VERSION = 1
CATALOG_NAME = "catalog.sqlite"
DEFAULT_GRACE_SECONDS = 900.0
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


class Catalog:
    """One SQLite connection to a store's catalog, used from one thread at a time.

    Args:
        path: The catalog file.
        durability: ``"normal"`` (WAL, synchronous=NORMAL: an append survives a killed process)
            or ``"full"`` (synchronous=FULL: it also survives a power cut).
    """

    def __init__(self, path: Path, *, durability: str = "normal") -> None:
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = path
        self._lock = threading.RLock()
        self._closed = False
        # A catalog this process cannot write (a read-only mount, an archive, a colleague's
        # share) is opened read-only: reads work, a write is a clear StoreError.
        self.read_only = not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        try:
            self.conn = self._connect_read_only() if self.read_only else sqlite3.connect(
                str(path), isolation_level=None, timeout=120.0, check_same_thread=False
            )
            self.conn.execute("PRAGMA busy_timeout = 120000")
            if not self.read_only:
                mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute(f"PRAGMA synchronous = {durability.upper()}")
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
            self.conn.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store at {self.path.parent} is closed; open it again with ek.open_store(path)")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: takes the write lock at once, commits or rolls back whole."""
        with self._lock:
            self._check_open()
            if self.read_only:
                raise StoreError(
                    f"the store at {self.path.parent} is read-only (this process cannot write its folder or "
                    "catalog): it can be read, not changed"
                )
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    # SQLite may have rolled back already (a full disk, an I/O error).
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise self._translate(e, "nothing of this change was stored") from e

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

    # -- small queries used inside transactions ------------------------------------------------

    @staticmethod
    def meta_int(conn: sqlite3.Connection, key: str) -> int:
        return int(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @staticmethod
    def grace_seconds(conn: sqlite3.Connection) -> float:
        """The store's grace period: how long replaced files stay for readers (every process obeys it)."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'grace_seconds'").fetchone()
        return DEFAULT_GRACE_SECONDS if row is None else float(row[0])

    @staticmethod
    def log_state(conn: sqlite3.Connection) -> dict[str, int]:
        """head, last_recorded, hot_count, fields_version and personal_version in one query (the append hot path)."""
        state = {"head": 0, "last_recorded": 0, "hot_count": 0, "fields_version": 0, "personal_version": 0}
        for key, value in conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('head', 'last_recorded', 'hot_count', 'fields_version', "
            "'personal_version')"
        ):
            state[key] = int(value)
        return state

    @staticmethod
    def set_log_state(conn: sqlite3.Connection, **values: int) -> None:
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    @staticmethod
    def fields(conn: sqlite3.Connection) -> dict[str, str]:
        return dict(conn.execute("SELECT name, type FROM fields ORDER BY name").fetchall())

    @staticmethod
    def stream_heads(conn: sqlite3.Connection, stream_ids: list[str]) -> dict[str, tuple[str, int]]:
        """stream_id -> (stream_type, version) for those of ``stream_ids`` that exist."""
        if len(stream_ids) == 1:
            rows = conn.execute(
                "SELECT stream_id, stream_type, version FROM streams WHERE stream_id = ?", stream_ids
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT s.stream_id, s.stream_type, s.version FROM json_each(?) j "
                "JOIN streams s ON s.stream_id = j.value",
                (json.dumps(stream_ids),),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    @staticmethod
    def known_ids(conn: sqlite3.Connection, event_ids: list[str]) -> dict[str, int]:
        """event_id -> position for those ids the catalog's id index holds."""
        rows = conn.execute(
            "SELECT e.event_id, e.position FROM json_each(?) j JOIN event_ids e ON e.event_id = j.value",
            (json.dumps(event_ids),),
        ).fetchall()
        return dict(rows)

    @staticmethod
    def live_segments(conn: sqlite3.Connection, *, upto: int | None = None) -> list[tuple]:
        sql = (
            "SELECT segment_id, path, stream_type, first_position, last_position, event_count, "
            "size_bytes, min_occurred, max_occurred, min_recorded, max_recorded "
            "FROM segments WHERE retired_at IS NULL"
        )
        if upto is not None:
            return conn.execute(sql + " AND first_position <= ? ORDER BY first_position", (upto,)).fetchall()
        return conn.execute(sql + " ORDER BY first_position").fetchall()

    @staticmethod
    def upsert_streams(conn: sqlite3.Connection, heads: list[tuple[str, str, int, int]]) -> None:
        """Set each stream's head: ``(stream_id, stream_type, version, last_position)`` rows, inside a write."""
        conn.executemany(
            "INSERT INTO streams VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
            "version = excluded.version, last_position = excluded.last_position",
            heads,
        )

    # -- consumers' checkpoints -----------------------------------------------------------------

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def set_checkpoint(conn: sqlite3.Connection, name: str, position: int) -> None:
        conn.execute("INSERT OR REPLACE INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?)",
                     (name, int(position), time.time()))

    @staticmethod
    def checkpoints(conn: sqlite3.Connection) -> list[tuple[str, int, float]]:
        return conn.execute("SELECT name, position, updated_at FROM checkpoints ORDER BY name").fetchall()

    # -- saved fold states ----------------------------------------------------------------------

    @staticmethod
    def save_fold_state(conn: sqlite3.Connection, *, fold: str, fingerprint: str, position: int,
                        max_occurred: int | None, streams: int, path: str) -> str | None:
        old = conn.execute(
            "SELECT path FROM fold_states WHERE fingerprint = ? AND position = ?", (fingerprint, position)
        ).fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO fold_states VALUES (?, ?, ?, ?, ?, ?, ?)",
            (fingerprint, position, fold, max_occurred, streams, path, time.time()),
        )
        return None if old is None else old[0]

    @staticmethod
    def newest_fold_state(conn: sqlite3.Connection, fingerprint: str, *, upto: int,
                          as_of: int | None) -> tuple | None:
        sql = ("SELECT fold, fingerprint, position, max_occurred, streams, path FROM fold_states "
               "WHERE fingerprint = ? AND position <= ?")
        params: list = [fingerprint, upto]
        if as_of is not None:
            sql += " AND (max_occurred IS NULL OR max_occurred <= ?)"
            params.append(as_of)
        return conn.execute(sql + " ORDER BY position DESC LIMIT 1", params).fetchone()

    @staticmethod
    def fold_states(conn: sqlite3.Connection) -> list[tuple[str, str, int, int, float, str]]:
        return conn.execute(
            "SELECT fold, fingerprint, position, streams, created_at, path FROM fold_states ORDER BY fold, position"
        ).fetchall()

    # -- the hash chain and personal data (eventkit.store.integrity) -------------------------------

    @staticmethod
    def chain_head(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
        """The last link's (seq, hash); None before the first link."""
        return conn.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()

    @staticmethod
    def add_link(conn: sqlite3.Connection, link: tuple) -> None:
        """Insert one link: (seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash)."""
        conn.execute(f"INSERT INTO chain ({LINK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", link)

    @staticmethod
    def links(conn: sqlite3.Connection, *, from_seq: int = 1, upto_seq: int | None = None,
              kind: str | None = None) -> list[tuple]:
        """Links in seq order, as tuples in :data:`LINK_COLUMNS` order."""
        sql, params = f"SELECT {LINK_COLUMNS} FROM chain WHERE seq >= ?", [from_seq]
        if upto_seq is not None:
            sql += " AND seq <= ?"
            params.append(upto_seq)
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return conn.execute(sql + " ORDER BY seq", params).fetchall()

    @staticmethod
    def last_link_seq(conn: sqlite3.Connection, kind: str) -> int:
        """The seq of the last link of ``kind``; 0 when there is none."""
        return conn.execute("SELECT coalesce(max(seq), 0) FROM chain WHERE kind = ?", (kind,)).fetchone()[0]

    @staticmethod
    def hot_rows(conn: sqlite3.Connection) -> list[tuple]:
        """Every hot-log row as stored, in position order."""
        return conn.execute(
            "SELECT position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at, "
            "data, metadata FROM hot ORDER BY position").fetchall()

    @staticmethod
    def segment_rows(conn: sqlite3.Connection) -> list[tuple]:
        """Every segment row, retired ones too: (segment_id, path, stream_type, first_position, last_position,
        event_count, size_bytes, min_occurred, max_occurred, min_recorded, max_recorded, retired_at, sha256)."""
        return conn.execute(
            "SELECT segment_id, path, stream_type, first_position, last_position, event_count, size_bytes, "
            "min_occurred, max_occurred, min_recorded, max_recorded, retired_at, sha256 FROM segments "
            "ORDER BY segment_id").fetchall()

    @staticmethod
    def segment_hashes(conn: sqlite3.Connection, paths: list[str]) -> dict[str, str | None]:
        """path -> recorded SHA-256 for those of ``paths`` (relative) the catalog lists."""
        rows = conn.execute("SELECT s.path, s.sha256 FROM json_each(?) j JOIN segments s ON s.path = j.value",
                            (json.dumps(paths),)).fetchall()
        return dict(rows)

    @staticmethod
    def all_streams(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
        """Every stream head: (stream_id, stream_type, version, last_position)."""
        return conn.execute("SELECT stream_id, stream_type, version, last_position FROM streams").fetchall()

    @staticmethod
    def stream_segment_pairs(conn: sqlite3.Connection) -> list[tuple[str, int]]:
        return conn.execute("SELECT stream_id, segment_id FROM stream_segments").fetchall()

    @staticmethod
    def supplied_ids(conn: sqlite3.Connection) -> list[tuple[str, int]]:
        """The supplied-id index: (event_id, position) rows."""
        return conn.execute("SELECT event_id, position FROM event_ids").fetchall()

    @staticmethod
    def personal_state(conn: sqlite3.Connection) -> tuple[int, int]:
        """(personal_version, keys_erased): counters bumped by every declaration and every erasure."""
        values = dict(conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('personal_version', 'keys_erased')").fetchall())
        return int(values.get("personal_version", 0)), int(values.get("keys_erased", 0))

    @staticmethod
    def personal_declarations(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
        """Every declaration as (scope, name, fields JSON, subject); scope is stream_type or event_type."""
        return conn.execute("SELECT scope, name, fields, subject FROM personal_fields ORDER BY 1, 2").fetchall()

    @staticmethod
    def declare_personal(conn: sqlite3.Connection, scope: str, name: str, fields: list[str], subject: str) -> None:
        conn.execute("INSERT OR REPLACE INTO personal_fields VALUES (?, ?, ?, ?)", (scope, name, json.dumps(fields), subject))
        version = conn.execute("SELECT value FROM meta WHERE key = 'personal_version'").fetchone()
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('personal_version', ?)", (str(int(version[0]) + 1 if version else 1),))

    @staticmethod
    def subject_keys(conn: sqlite3.Connection, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
        """subject -> (key_id, key) of each of ``subjects`` that has a live key."""
        rows = conn.execute(
            "SELECT k.subject, k.key_id, k.key FROM json_each(?) j JOIN subject_keys k ON k.subject = j.value "
            "WHERE k.erased_at IS NULL", (json.dumps(subjects),)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    @staticmethod
    def add_subject_keys(conn: sqlite3.Connection, keys: list[tuple[str, str, bytes]]) -> None:
        """Record new keys: (key_id, subject, key) rows."""
        now = time.time()
        conn.executemany("INSERT INTO subject_keys VALUES (?, ?, ?, ?, NULL)", [(*k, now) for k in keys])

    @staticmethod
    def keys_by_id(conn: sqlite3.Connection, key_ids: list[str]) -> dict[str, bytes | None]:
        """key_id -> key (None once erased) for those of ``key_ids`` the catalog knows."""
        rows = conn.execute("SELECT k.key_id, k.key FROM json_each(?) j JOIN subject_keys k ON k.key_id = j.value",
                            (json.dumps(key_ids),)).fetchall()
        return dict(rows)

    @staticmethod
    def erase_subject(conn: sqlite3.Connection, subject: str) -> tuple[int, bool]:
        """Destroy ``subject``'s live keys; returns (keys destroyed, whether the subject ever had a key)."""
        conn.execute("PRAGMA secure_delete = ON")  # the key's bytes are overwritten, not just unlinked
        n = conn.execute("UPDATE subject_keys SET key = NULL, erased_at = ? WHERE subject = ? AND erased_at IS NULL",
                         (time.time(), subject)).rowcount
        known = n > 0 or conn.execute("SELECT 1 FROM subject_keys WHERE subject = ? LIMIT 1", (subject,)).fetchone() is not None
        if n:
            erased = conn.execute("SELECT value FROM meta WHERE key = 'keys_erased'").fetchone()
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('keys_erased', ?)", (str(int(erased[0]) + 1 if erased else 1),))
        return n, known

    @staticmethod
    def chain_since(conn: sqlite3.Connection) -> int | None:
        """The first position the chain covers from its start (1, or past an adopted history); None before."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'chain_since'").fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def set_segment_hash(conn: sqlite3.Connection, path: str, sha256: str) -> None:
        conn.execute("UPDATE segments SET sha256 = ? WHERE path = ?", (sha256, path))
