"""A store's catalog in PostgreSQL, for a store shared by writers on several hosts.

``ek.open_store(location, catalog="postgresql://user@host/db?schema=bank")`` keeps the catalog's
tables in schema ``bank`` (default ``eventkit``) of that database; everything else in the URL goes to
libpq. Same contract as the SQLite catalog (``tests/test_catalog_contract.py``), and the same
guarantees:

- **Positions 1, 2, 3 without gaps, in commit order.** Every write transaction starts by updating
  the one counter row (``log``, ``UPDATE ... RETURNING``): its row lock serialises writers the way
  SQLite's write lock does, positions are taken from it inside the committing transaction, and a
  rollback gives them back. No sequence: a sequence leaves gaps and lets a reader see position
  n + 1 before n commits.
- **Consistent reads.** A read is one ``REPEATABLE READ READ ONLY`` transaction: one snapshot.
- **Expected versions and idempotent ids** are checked inside the write, under that lock.

``durability="normal"`` commits with ``synchronous_commit = off`` (an acknowledged append survives a
killed client; a server crash may lose the last fraction of a second), ``"full"`` with ``on``.

May use :mod:`eventkit.common`, :mod:`.postgres_catalog_setup` (the URL, the tables), :mod:`.postgres_catalog_tx` (the write transaction) and
:mod:`.postgres_catalog_proof` (the hash chain's and crypto-shredding's statements); needs ``psycopg`` (``pip install 'eventkit[postgresql]'``).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from eventkit.common.errors import StoreError
from eventkit.store.postgres_catalog_proof import PostgresProofQueries
from eventkit.store.postgres_catalog_tx import HEADS_SQL, HOT_COLUMNS, LOG_KEYS, WriteTx, head_cache
from eventkit.store.postgres_catalog_setup import (FORMAT_VERSION, add_missing_tables, create_tables, psycopg_module,
                                                   redacted, split_url)

DEFAULT_GRACE_SECONDS = 900.0
_LOG_KEYS = LOG_KEYS  # columns of the counter row
_META_COUNTERS = ("personal_version",)  # log_state's counters kept in meta (moved by declare_personal)
_HOT_COLUMNS = HOT_COLUMNS
_SEGMENT_COLUMNS = (
    "segment_id, path, stream_type, first_position, last_position, event_count, "
    "size_bytes, min_occurred, max_occurred, min_recorded, max_recorded"
)


_INHERITED: list[Any] = []  # connections inherited through fork(): never closed in the child



class PostgresCatalog(PostgresProofQueries):
    """One PostgreSQL connection to a store's catalog, used from one thread at a time.

    Args:
        url: ``postgresql://...``, optionally with ``?schema=name``.
        durability: ``"normal"`` or ``"full"``.
    """

    read_only = False
    #: This store's prefix for generated event ids (read from ``meta`` on open).
    id_prefix: str = ""

    def __init__(self, url: str, *, durability: str = "normal") -> None:
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        self._conninfo, self.schema = split_url(url)
        #: Where the catalog is, for messages (no password).
        self.path = f"{redacted(url)} (schema {self.schema})"
        self._durability = self.durability = durability  # durability: group commit keys groups by it
        self._lock = threading.RLock()
        self._closed = False
        self._conn: Any = None
        self._pid = 0
        self._heads = head_cache(self._conninfo, self.schema)  # shared by this process's catalogs of it
        with self.read() as tx:
            row = tx.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
            if row is None or int(row[0]) > FORMAT_VERSION:
                self.close()
                raise StoreError(f"the catalog {self.path} was written by a newer eventkit (format {row and row[0]}); "
                                 "upgrade eventkit to open it")
            self.id_prefix = tx.execute("SELECT value FROM meta WHERE key = 'id_prefix'").fetchone()[0]

    @classmethod
    def open(cls, url: str, *, durability: str = "normal", create: bool = True) -> PostgresCatalog:
        """Open the catalog at ``url``, creating its tables first when missing (unless ``create=False``)."""
        psycopg = psycopg_module()
        conninfo, schema = split_url(url)
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=20) as conn:
                exists, chained = conn.execute("SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
                                               (f"{schema}.meta", f"{schema}.chain")).fetchone()
                if not exists:
                    if not create:
                        raise StoreError(f"no eventkit store in the catalog {redacted(url)} (schema {schema})")
                    create_tables(conn, schema)
                elif not chained:
                    add_missing_tables(conn, schema)  # a catalog from before the hash chain
        except psycopg.Error as e:
            raise StoreError(f"cannot open the catalog {redacted(url)}: {str(e).strip()}") from e
        return cls(url, durability=durability)

    # -- connection and transactions --------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is not None and self._pid != os.getpid():
            _INHERITED.append(self._conn)  # the parent's session: closing it here would end the parent's
            self._conn = None
            self._heads = head_cache(self._conninfo, self.schema)  # the child's own (the parent's lock may be held)
        if self._conn is None or self._conn.closed:
            psycopg = psycopg_module()
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=20)
                conn.execute(f'SET search_path TO "{self.schema}"')
                conn.execute(f"SET synchronous_commit = {'on' if self._durability == 'full' else 'off'}")
                conn.execute("SET lock_timeout = '120s'")
            except psycopg.Error as e:
                raise StoreError(f"cannot connect to the catalog {self.path}: {str(e).strip()}") from e
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store with catalog {self.path} is closed; open it again with ek.open_store(...)")

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction: takes the counter row's lock first (writers queue here), commits whole.

        The transaction runs in psycopg's pipeline mode, and the catalog's methods get it as a
        :class:`~.postgres_catalog_tx.WriteTx` (an append's writes deferred and sent as one prepared
        statement, savepoints sent only when needed, stream heads this process knows not re-read):
        a one-event append to a stream this process knows costs two round trips (the lock with what it
        guards; the writes with COMMIT), and a group commit of any number of them the same two.
        """
        psycopg = psycopg_module()
        with self._lock:
            self._check_open()
            conn = self._connection()
            try:
                try:
                    with conn.pipeline():
                        conn.execute("BEGIN")
                        locked = conn.execute(f"UPDATE log SET head = head WHERE id = 1 RETURNING {', '.join(_LOG_KEYS)}")
                        # A statement of its own, sent with the UPDATE: its snapshot is taken once the lock
                        # is ours, so it sees what the writer before us committed (the UPDATE's would not).
                        guarded = conn.execute(
                            "SELECT (SELECT value FROM meta WHERE key = 'personal_version'), "
                            "(SELECT seq FROM chain ORDER BY seq DESC LIMIT 1), "
                            "(SELECT hash FROM chain ORDER BY seq DESC LIMIT 1)")
                        held = dict(zip(_LOG_KEYS, map(int, locked.fetchone())))
                        version, seq, digest = guarded.fetchone()
                        chain = None if seq is None else (int(seq), bytes(digest))
                        held.update(personal_version=int(version or 0), chain_head=chain, saved={}, heads={},
                                    start=(held["head"], chain))
                        tx = WriteTx(conn, held, self._heads)
                        yield tx
                        tx.flush()
                        token, valid = self._heads.committing(held["start"])
                        conn.execute("COMMIT")
                    # the pipeline ended without an error: committed
                    self._heads.committed(token, valid, (held["head"], held["chain_head"]), held["heads"])
                except BaseException:
                    self._vacuum_keys = False
                    _rollback(conn)
                    raise
            except psycopg.Error as e:
                raise self._translate(e, "nothing of this change was stored") from e
            self._after_commit(conn)

    @contextmanager
    def read(self) -> Iterator[Any]:
        """One read transaction on one snapshot of the catalog."""
        psycopg = psycopg_module()
        with self._lock:
            self._check_open()
            conn = self._connection()
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield conn
                finally:
                    _rollback(conn)  # nothing to keep: ends the snapshot
            except psycopg.Error as e:
                raise self._translate(e, "the read failed") from e

    def _translate(self, error: Exception, outcome: str) -> BaseException:
        """The server's or the network's failures as StoreError; a constraint violation is eventkit's bug."""
        psycopg = psycopg_module()
        if isinstance(error, (psycopg.IntegrityError, psycopg.ProgrammingError)):
            return error
        text = str(error).strip()
        hint = "another process held the store's write lock too long; retry" if "lock timeout" in text else (
            "check that the server is up and reachable, then retry")
        return StoreError(f"the store's catalog {self.path} failed: {text}; {outcome} ({hint})")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def size_bytes(self) -> int:
        with self.read() as tx:
            return int(tx.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                (self.schema,)).fetchone()[0])

    # -- settings and the log's counters ----------------------------------------------------------

    def meta_int(self, tx: Any, key: str) -> int:
        if key in _LOG_KEYS:
            return self.log_state(tx)[key]
        return int(tx.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()[0])

    def set_meta(self, tx: Any, key: str, value: Any) -> None:
        if key in _LOG_KEYS:
            self.set_log_state(tx, **{key: int(value)})
            return
        tx.execute("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   (key, str(value)))
        held = self._held_state(tx)
        if held is not None and key in _META_COUNTERS:
            held[key] = int(value)

    def grace_seconds(self, tx: Any) -> float:
        row = tx.execute("SELECT value FROM meta WHERE key = 'grace_seconds'").fetchone()
        return DEFAULT_GRACE_SECONDS if row is None else float(row[0])

    def log_state(self, tx: Any) -> dict[str, int]:
        held = self._held_state(tx)
        if held is not None:  # inside write(): read when the lock was taken, kept current since
            return {k: held[k] for k in _LOG_KEYS + _META_COUNTERS}
        meta = ", ".join(f"(SELECT value FROM meta WHERE key = '{k}')" for k in _META_COUNTERS)
        row = tx.execute(f"SELECT {', '.join(_LOG_KEYS)}, {meta} FROM log WHERE id = 1").fetchone()
        return {k: int(v or 0) for k, v in zip(_LOG_KEYS + _META_COUNTERS, row)}

    def set_log_state(self, tx: Any, **values: int) -> None:
        unknown = set(values) - set(_LOG_KEYS)
        if unknown:
            raise ValueError(f"not counters of the log: {sorted(unknown)}")
        if values:
            held = self._held_state(tx)
            if held is None:
                tx.execute("UPDATE log SET " + ", ".join(f"{k} = %s" for k in values) + " WHERE id = 1",
                           [int(v) for v in values.values()])
                return
            held.update({k: int(v) for k, v in values.items()})
            tx.defer("log", tuple(held[k] for k in _LOG_KEYS))

    def append_state(self, tx: Any, stream_ids: list[str]
                     ) -> tuple[dict[str, int], dict[str, tuple[str, int]], tuple[int, bytes] | None]:
        return self.log_state(tx), self.stream_heads(tx, stream_ids), self.chain_head(tx)

    def fields(self, tx: Any) -> dict[str, str]:
        return dict(tx.execute("SELECT name, type FROM fields ORDER BY name").fetchall())

    def set_fields(self, tx: Any, fields: dict[str, str]) -> None:
        tx.execute("INSERT INTO fields SELECT * FROM unnest(%s::text[], %s::text[]) "
                   "ON CONFLICT (name) DO UPDATE SET type = excluded.type", (list(fields), list(fields.values())))

    # -- streams and event ids --------------------------------------------------------------------

    def stream_heads(self, tx: Any, stream_ids: list[str]) -> dict[str, tuple[str, int]]:
        if isinstance(tx, WriteTx):
            return tx.stream_heads(stream_ids)  # what the write knows, the process's cache, then the server
        rows = tx.execute(HEADS_SQL, (list(stream_ids),)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def prefetch_heads(self, tx: Any, stream_ids: Sequence[str]) -> None:
        """Read ahead the heads of the streams a group commit's queued appends will read (one round trip
        for all of them, instead of one per append; called by :mod:`.group_commit`)."""
        if isinstance(tx, WriteTx):
            tx.stream_heads(stream_ids)

    def upsert_streams(self, tx: Any, heads: list[tuple[str, str, int, int]]) -> None:
        if not heads:
            return
        if isinstance(tx, WriteTx):
            tx.upsert_streams(heads)
            return
        ids, types, versions, lasts = (list(c) for c in zip(*heads))
        tx.execute("INSERT INTO streams SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[]) "
                   "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_position = excluded.last_position",
                   (ids, types, versions, lasts))

    def stream_count(self, tx: Any) -> int:
        return int(tx.execute("SELECT count(*) FROM streams").fetchone()[0])

    def stream_type_counts(self, tx: Any) -> list[tuple[str, int]]:
        return [(t, int(n)) for t, n in tx.execute(
            'SELECT stream_type, count(*) FROM streams GROUP BY 1 ORDER BY 2 DESC, stream_type COLLATE "C"')]

    def stream_ids_like(self, tx: Any, stream_id: str, *, limit: int = 20_000) -> list[str]:
        if self.stream_count(tx) <= limit:
            return [r[0] for r in tx.execute("SELECT stream_id FROM streams ORDER BY stream_id")]
        return [r[0] for r in tx.execute(
            "SELECT stream_id FROM streams WHERE length(stream_id) BETWEEN %s AND %s "
            "AND lower(substr(stream_id, 1, 2)) = lower(substr(%s, 1, 2)) ORDER BY stream_id LIMIT %s",
            (len(stream_id) - 1, len(stream_id) + 1, stream_id, limit))]

    def known_ids(self, tx: Any, event_ids: list[str]) -> dict[str, int]:
        return dict(_query(tx, "SELECT event_id, position FROM event_ids WHERE event_id = ANY(%s::text[])",
                           (list(event_ids),)).fetchall())

    def add_event_ids(self, tx: Any, pairs: Iterable[tuple[str, int]]) -> None:
        pairs = list(pairs)
        if not pairs:
            return
        if isinstance(tx, WriteTx):
            for pair in pairs:
                tx.defer("event_ids", pair)
            return
        ids, positions = (list(c) for c in zip(*pairs))
        tx.execute("INSERT INTO event_ids SELECT * FROM unnest(%s::text[], %s::bigint[])", (ids, positions))

    # -- the hot log ------------------------------------------------------------------------------

    def insert_hot(self, tx: Any, rows: list[tuple]) -> None:
        if not rows:
            return
        if isinstance(tx, WriteTx):
            for row in rows:
                tx.defer("hot", tuple(row))
            return
        tx.execute(f"INSERT INTO hot ({_HOT_COLUMNS}) SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], "
                   "%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[])",
                   [list(c) for c in zip(*rows)])

    def hot_rows(self, tx: Any, *, upto: int, stream_id: str | None = None, from_position: int | None = None,
                 recorded_cut: int | None = None, limit: int | None = None) -> list[tuple]:
        return _hot_select(tx, [("position <= %s", upto), ("stream_id = %s", stream_id),
                                ("position >= %s", from_position), ("recorded_at <= %s", recorded_cut)],
                           "position", limit)

    # -- operational reads and tracking (point_reads, tracking, group_commit) --------------------

    def savepoint(self, tx: Any, action: str, name: str) -> None:
        """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` savepoint ``name`` inside a write (group commit)."""
        if action not in ("SAVEPOINT", "RELEASE", "ROLLBACK TO") or not name.isidentifier():
            raise ValueError(f"not a savepoint statement: {action} {name}")
        if isinstance(tx, WriteTx):
            tx.savepoint(action, name)  # sent only before the first write inside it
        else:
            tx.execute(f"{action} {name}")
        held = self._held_state(tx)
        if held is not None:  # the state read under the lock follows the savepoint (ROLLBACK TO restores it)
            if action == "SAVEPOINT":
                held["saved"][name] = {k: v for k, v in held.items() if k != "saved"}
                held["saved"][name]["heads"] = dict(held["heads"])
            elif action == "ROLLBACK TO":
                held.update(held["saved"][name])
                held["heads"] = dict(held["heads"])  # the saved copy stays as it was, for another ROLLBACK TO
            else:
                held["saved"].pop(name, None)

    def _held_state(self, tx: Any) -> dict[str, Any] | None:
        """What the write transaction ``tx`` read under the lock (None outside a write)."""
        return tx.held if isinstance(tx, WriteTx) else None

    def stored_checkpoint(self, tx: Any, name: str) -> int | None:
        row = tx.execute("SELECT position FROM checkpoints WHERE name = %s", (name,)).fetchone()
        return None if row is None else int(row[0])

    def stream_sealed(self, tx: Any, stream_id: str) -> bool:
        return tx.execute(
            "SELECT 1 FROM stream_segments ss JOIN segments s ON s.segment_id = ss.segment_id "
            "WHERE ss.stream_id = %s AND s.retired_at IS NULL LIMIT 1", (stream_id,)).fetchone() is not None

    def stream_segment_files(self, tx: Any, stream_id: str) -> list[tuple[str, int, int]]:
        return tx.execute(
            "SELECT s.path, s.first_position, s.last_position FROM stream_segments ss "
            "JOIN segments s ON s.segment_id = ss.segment_id "
            "WHERE ss.stream_id = %s AND s.retired_at IS NULL ORDER BY s.first_position", (stream_id,)).fetchall()

    def sealed_upto(self, tx: Any) -> int:
        row = tx.execute("SELECT max(last_position) FROM segments WHERE retired_at IS NULL").fetchone()
        return int(row[0] or 0)

    def hot_stream_rows(self, tx: Any, stream_id: str, *, from_version: int | None = None,
                        to_version: int | None = None, backwards: bool = False,
                        limit: int | None = None) -> list[tuple]:
        return _hot_select(tx, [("stream_id = %s", stream_id), ("version >= %s", from_version),
                                ("version <= %s", to_version)], "version DESC" if backwards else "version", limit)

    def hot_page(self, tx: Any, *, from_position: int = 1, to_position: int | None = None,
                 event_types: list[str] | None = None, limit: int | None = None) -> list[tuple]:
        return _hot_select(tx, [("position >= %s", from_position), ("position <= %s", to_position),
                                ("event_type = ANY(%s)", None if event_types is None else list(event_types))],
                           "position", limit)

    def delete_hot(self, tx: Any) -> int:
        # counted by the server: in pipeline mode a cursor's rowcount is not known until its result is read
        return int(tx.execute("WITH d AS (DELETE FROM hot RETURNING 1) SELECT count(*) FROM d").fetchone()[0])

    # -- the segment list -------------------------------------------------------------------------

    def live_segments(self, tx: Any, *, upto: int | None = None) -> list[tuple]:
        sql = f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE retired_at IS NULL"
        if upto is not None:
            return tx.execute(sql + " AND first_position <= %s ORDER BY first_position", (upto,)).fetchall()
        return tx.execute(sql + " ORDER BY first_position").fetchall()

    def read_segments(self, tx: Any, *, upto: int, stream_id: str | None = None, from_position: int | None = None,
                      recorded_cut: int | None = None) -> list[tuple]:
        sql = ("SELECT s.path, s.first_position, s.last_position, s.min_recorded, s.stream_type FROM segments s "
               "WHERE s.retired_at IS NULL AND s.first_position <= %s")
        params: list[Any] = [upto]
        for clause, value in (
            ("s.segment_id IN (SELECT segment_id FROM stream_segments WHERE stream_id = %s)", stream_id),
            ("s.last_position >= %s", from_position), ("s.min_recorded <= %s", recorded_cut),
        ):
            if value is not None:
                sql += f" AND {clause}"
                params.append(value)
        return tx.execute(sql + " ORDER BY s.first_position", params).fetchall()

    def add_segment(self, tx: Any, seg: Any, stream_ids: Sequence[str]) -> int:
        segment_id = tx.execute(
            "INSERT INTO segments (path, stream_type, first_position, last_position, event_count, size_bytes, "
            "min_occurred, max_occurred, min_recorded, max_recorded, sha256) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING segment_id",
            (seg.path, seg.stream_type, seg.first_position, seg.last_position, seg.event_count, seg.size_bytes,
             seg.min_occurred, seg.max_occurred, seg.min_recorded, seg.max_recorded, getattr(seg, "sha256", None)),
        ).fetchone()[0]
        tx.execute("INSERT INTO stream_segments SELECT DISTINCT s, %s::bigint FROM unnest(%s::text[]) s "
                   "ON CONFLICT DO NOTHING", (segment_id, list(stream_ids)))
        return int(segment_id)

    def segment_streams(self, tx: Any, segment_ids: Sequence[int]) -> list[str]:
        return [r[0] for r in tx.execute(
            "SELECT DISTINCT stream_id FROM stream_segments WHERE segment_id = ANY(%s::bigint[]) ORDER BY stream_id",
            (list(segment_ids),))]

    def segments_live(self, tx: Any, segment_ids: Sequence[int]) -> bool:
        ids = sorted(set(segment_ids))
        live = tx.execute("SELECT count(*) FROM segments WHERE retired_at IS NULL AND segment_id = ANY(%s::bigint[])",
                          (ids,)).fetchone()[0]
        return int(live) == len(ids)

    def retire_segments(self, tx: Any, segment_ids: Sequence[int], *, at: float | None = None) -> None:
        ids = list(segment_ids)
        tx.execute("DELETE FROM stream_segments WHERE segment_id = ANY(%s::bigint[])", (ids,))
        tx.execute("UPDATE segments SET retired_at = %s WHERE segment_id = ANY(%s::bigint[])",
                   (time.time() if at is None else at, ids))

    def retired_segments(self, tx: Any, *, before: float) -> list[tuple[int, str]]:
        return tx.execute("SELECT segment_id, path FROM segments WHERE retired_at IS NOT NULL AND retired_at < %s "
                          "ORDER BY segment_id", (before,)).fetchall()

    def forget_segment(self, tx: Any, segment_id: int) -> None:
        tx.execute("DELETE FROM segments WHERE segment_id = %s", (segment_id,))

    def segment_paths(self, tx: Any) -> set[str]:
        return {r[0] for r in tx.execute("SELECT path FROM segments")}

    # -- consumers' checkpoints -------------------------------------------------------------------

    def checkpoint(self, tx: Any, name: str) -> int:
        row = tx.execute("SELECT position FROM checkpoints WHERE name = %s", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_checkpoint(self, tx: Any, name: str, position: int) -> None:
        tx.execute("INSERT INTO checkpoints VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                   "position = excluded.position, updated_at = excluded.updated_at", (name, int(position), time.time()))

    def checkpoints(self, tx: Any) -> list[tuple[str, int, float]]:
        return tx.execute("SELECT name, position, updated_at FROM checkpoints ORDER BY name").fetchall()

    # -- saved fold states ------------------------------------------------------------------------

    def save_fold_state(self, tx: Any, *, fold: str, fingerprint: str, position: int, max_occurred: int | None,
                        streams: int, path: str) -> str | None:
        old = tx.execute("SELECT path FROM fold_states WHERE fingerprint = %s AND position = %s",
                         (fingerprint, position)).fetchone()
        tx.execute(
            "INSERT INTO fold_states VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (fingerprint, position) DO UPDATE "
            "SET fold = excluded.fold, max_occurred = excluded.max_occurred, streams = excluded.streams, "
            "path = excluded.path, created_at = excluded.created_at",
            (fingerprint, position, fold, max_occurred, streams, path, time.time()))
        return None if old is None else old[0]

    def newest_fold_state(self, tx: Any, fingerprint: str, *, upto: int, as_of: int | None) -> tuple | None:
        sql = ("SELECT fold, fingerprint, position, max_occurred, streams, path FROM fold_states "
               "WHERE fingerprint = %s AND position <= %s")
        params: list[Any] = [fingerprint, upto]
        if as_of is not None:
            sql += " AND (max_occurred IS NULL OR max_occurred <= %s)"
            params.append(as_of)
        return tx.execute(sql + " ORDER BY position DESC LIMIT 1", params).fetchone()

    def fold_states(self, tx: Any) -> list[tuple[str, str, int, int, float, str]]:
        return tx.execute("SELECT fold, fingerprint, position, streams, created_at, path FROM fold_states "
                          "ORDER BY fold, position").fetchall()

    def drop_fold_states(self, tx: Any) -> list[str]:
        return [row[0] for row in tx.execute("DELETE FROM fold_states RETURNING path").fetchall()]


def _hot_select(tx: Any, conditions: list[tuple[str, Any]], order: str, limit: int | None) -> list[tuple]:
    """Hot-log rows meeting every condition whose value is not None, in ``order`` (as the SQLite catalog's)."""
    used = [(clause, value) for clause, value in conditions if value is not None]
    sql = f"SELECT {_HOT_COLUMNS} FROM hot"
    if used:
        sql += " WHERE " + " AND ".join(clause for clause, _ in used)
    params = [value for _, value in used]
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return tx.execute(sql, params).fetchall()


def _query(tx: Any, sql: str, params: Sequence[Any]) -> Any:
    """A statement that only reads (inside a write it leaves an unsent savepoint unsent)."""
    return tx.query(sql, params) if isinstance(tx, WriteTx) else tx.execute(sql, params)


def _rollback(conn: Any) -> None:
    """End the transaction, whatever state the connection is in (a broken one is replaced on next use)."""
    try:
        if not conn.closed:
            conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the connection is gone; the server rolled back for us
        pass
