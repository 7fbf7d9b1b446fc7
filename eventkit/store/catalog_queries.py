"""The SQLite catalog's statements: every query and change the store makes to ``catalog.sqlite``.

:class:`SQLiteQueries` holds them as methods taking the transaction handle (a ``sqlite3.Connection``
inside ``Catalog.write()`` or ``Catalog.read()``); :class:`~eventkit.store.catalog.Catalog` inherits
them. Their meaning is the :class:`~eventkit.store.catalog_interface.CatalogBackend` contract.

May use :mod:`eventkit.common` only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterable, Sequence

DEFAULT_GRACE_SECONDS = 900.0

_SEGMENT_COLUMNS = (
    "segment_id, path, stream_type, first_position, last_position, event_count, "
    "size_bytes, min_occurred, max_occurred, min_recorded, max_recorded"
)
LINK_COLUMNS = "seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash"
_ADD_LINK = f"INSERT INTO chain ({LINK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
HOT_COLUMNS = "position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at, data, metadata"


_APPEND_STATE = (
    "SELECT 'm', key, value, NULL FROM meta WHERE key IN ('head', 'last_recorded', 'hot_count', 'fields_version', "
    "'personal_version') UNION ALL SELECT * FROM (SELECT 'c', NULL, seq, hash FROM chain ORDER BY seq DESC LIMIT 1) "
    "UNION ALL "
)


# The same read for a one-stream append, as one row: each row a cursor returns costs about a
# microsecond in Python, and the tagged form returns seven.
_APPEND_STATE_ONE = (
    "SELECT (SELECT value FROM meta WHERE key = 'head'), (SELECT value FROM meta WHERE key = 'last_recorded'), "
    "(SELECT value FROM meta WHERE key = 'hot_count'), (SELECT value FROM meta WHERE key = 'fields_version'), "
    "(SELECT value FROM meta WHERE key = 'personal_version'), c.seq, c.hash, s.stream_type, s.version "
    "FROM (SELECT 1) LEFT JOIN (SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1) c "
    "LEFT JOIN streams s ON s.stream_id = ?"
)


_SET_META: dict[int, str] = {}  # set_log_state's statement by number of counters


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class SQLiteQueries:
    """The catalog's statements, as static methods on a transaction's connection."""

    # -- settings and the log's counters --------------------------------------------------------

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
        if not values:
            return
        # One statement for the counters an append moves (head, last_recorded, hot_count): the SQL
        # text is the same for every append, so sqlite3's statement cache keeps it prepared.
        sql = _SET_META.get(len(values))
        if sql is None:
            sql = _SET_META[len(values)] = "INSERT OR REPLACE INTO meta VALUES " + ",".join(["(?,?)"] * len(values))
        conn.execute(sql, [x for k, v in values.items() for x in (k, str(v))])

    @staticmethod
    def append_state(conn: sqlite3.Connection, stream_ids: list[str]
                     ) -> tuple[dict[str, int], dict[str, tuple[str, int]], tuple[int, bytes] | None]:
        """What an append reads first, in one statement: :meth:`log_state`, :meth:`stream_heads` of
        ``stream_ids`` and :meth:`chain_head` (one row for one stream; else rows tagged m, s and c)."""
        if len(stream_ids) == 1:
            head, recorded, hot, fields, personal, seq, link, stype, version = conn.execute(
                _APPEND_STATE_ONE, stream_ids).fetchone()
            state = {"head": int(head or 0), "last_recorded": int(recorded or 0), "hot_count": int(hot or 0),
                     "fields_version": int(fields or 0), "personal_version": int(personal or 0)}
            return (state, {} if stype is None else {stream_ids[0]: (stype, version)},
                    None if seq is None else (seq, link))
        streams = ("SELECT 's', s.stream_id, s.stream_type, s.version FROM json_each(?) j "
                   "JOIN streams s ON s.stream_id = j.value")
        arg = json.dumps(stream_ids)
        state = {"head": 0, "last_recorded": 0, "hot_count": 0, "fields_version": 0, "personal_version": 0}
        heads: dict[str, tuple[str, int]] = {}
        chain = None
        for tag, key, a, b in conn.execute(_APPEND_STATE + streams, (arg,)):
            if tag == "m":
                state[key] = int(a)
            elif tag == "s":
                heads[key] = (a, b)
            else:
                chain = (a, b)
        return state, heads, chain

    @staticmethod
    def change_marks(conn: sqlite3.Connection) -> tuple[int, int]:
        """(data_version, total_changes): the first moves when another connection commits, the second
        with every row this connection changes (see :mod:`eventkit.store.append_state_cache`)."""
        return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes

    @staticmethod
    def own_changes(conn: sqlite3.Connection) -> int:
        """The second of :meth:`change_marks` alone (no statement)."""
        return conn.total_changes

    @staticmethod
    def fields(conn: sqlite3.Connection) -> dict[str, str]:
        return dict(conn.execute("SELECT name, type FROM fields ORDER BY name").fetchall())

    @staticmethod
    def set_fields(conn: sqlite3.Connection, fields: dict[str, str]) -> None:
        conn.executemany("INSERT OR REPLACE INTO fields VALUES (?, ?)", list(fields.items()))

    # -- streams and event ids ------------------------------------------------------------------

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
    def upsert_streams(conn: sqlite3.Connection, heads: list[tuple[str, str, int, int]]) -> None:
        """Set each stream's head: ``(stream_id, stream_type, version, last_position)`` rows, inside a write."""
        sql = ("INSERT INTO streams VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
               "version = excluded.version, last_position = excluded.last_position")
        if len(heads) == 1:
            conn.execute(sql, heads[0])
        else:
            conn.executemany(sql, heads)

    @staticmethod
    def stream_count(conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT count(*) FROM streams").fetchone()[0]

    @staticmethod
    def stream_type_counts(conn: sqlite3.Connection) -> list[tuple[str, int]]:
        return conn.execute("SELECT stream_type, count(*) FROM streams GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()

    @staticmethod
    def stream_ids_like(conn: sqlite3.Connection, stream_id: str, *, limit: int = 20_000) -> list[str]:
        if SQLiteQueries.stream_count(conn) <= limit:
            return [r[0] for r in conn.execute("SELECT stream_id FROM streams ORDER BY stream_id")]
        return [r[0] for r in conn.execute(
            "SELECT stream_id FROM streams WHERE length(stream_id) BETWEEN ? AND ? "
            "AND lower(substr(stream_id, 1, 2)) = lower(substr(?, 1, 2)) ORDER BY stream_id LIMIT ?",
            (len(stream_id) - 1, len(stream_id) + 1, stream_id, limit))]

    @staticmethod
    def known_ids(conn: sqlite3.Connection, event_ids: list[str]) -> dict[str, int]:
        """event_id -> position for those ids the catalog's id index holds."""
        rows = conn.execute(
            "SELECT e.event_id, e.position FROM json_each(?) j JOIN event_ids e ON e.event_id = j.value",
            (json.dumps(event_ids),),
        ).fetchall()
        return dict(rows)

    @staticmethod
    def add_event_ids(conn: sqlite3.Connection, pairs: Iterable[tuple[str, int]]) -> None:
        conn.executemany("INSERT INTO event_ids VALUES (?, ?)", pairs)

    # -- the hot log ----------------------------------------------------------------------------

    @staticmethod
    def insert_hot(conn: sqlite3.Connection, rows: list[tuple]) -> None:
        if len(rows) == 1:  # a one-event append: execute skips executemany's per-call iterator setup
            conn.execute("INSERT INTO hot VALUES (?,?,?,?,?,?,?,?,?,?)", rows[0])
        else:
            conn.executemany("INSERT INTO hot VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    @staticmethod
    def hot_rows(conn: sqlite3.Connection, *, upto: int, stream_id: str | None = None,
                 from_position: int | None = None, recorded_cut: int | None = None,
                 limit: int | None = None) -> list[tuple]:
        return _hot_select(conn, [("position <= ?", upto), ("stream_id = ?", stream_id),
                                  ("position >= ?", from_position), ("recorded_at <= ?", recorded_cut)],
                           "position", limit)

    @staticmethod
    def delete_hot(conn: sqlite3.Connection) -> int:
        return conn.execute("DELETE FROM hot").rowcount

    # -- the segment list -----------------------------------------------------------------------

    @staticmethod
    def live_segments(conn: sqlite3.Connection, *, upto: int | None = None) -> list[tuple]:
        sql = f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE retired_at IS NULL"
        if upto is not None:
            return conn.execute(sql + " AND first_position <= ? ORDER BY first_position", (upto,)).fetchall()
        return conn.execute(sql + " ORDER BY first_position").fetchall()

    @staticmethod
    def read_segments(conn: sqlite3.Connection, *, upto: int, stream_id: str | None = None,
                      from_position: int | None = None, recorded_cut: int | None = None) -> list[tuple]:
        sql = (
            "SELECT s.path, s.first_position, s.last_position, s.min_recorded, s.stream_type FROM segments s "
            "WHERE s.retired_at IS NULL AND s.first_position <= ?"
        )
        params: list[Any] = [upto]
        if stream_id is not None:
            sql += " AND s.segment_id IN (SELECT segment_id FROM stream_segments WHERE stream_id = ?)"
            params.append(stream_id)
        if from_position is not None:
            sql += " AND s.last_position >= ?"
            params.append(from_position)
        if recorded_cut is not None:
            sql += " AND s.min_recorded <= ?"
            params.append(recorded_cut)
        return conn.execute(sql + " ORDER BY s.first_position", params).fetchall()

    @staticmethod
    def add_segment(conn: sqlite3.Connection, seg: Any, stream_ids: Sequence[str]) -> int:
        cur = conn.execute(
            "INSERT INTO segments (path, stream_type, first_position, last_position, event_count, size_bytes, "
            "min_occurred, max_occurred, min_recorded, max_recorded, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                seg.path, seg.stream_type, seg.first_position, seg.last_position, seg.event_count, seg.size_bytes,
                seg.min_occurred, seg.max_occurred, seg.min_recorded, seg.max_recorded, getattr(seg, "sha256", None),
            ),
        )
        segment_id = int(cur.lastrowid)
        conn.execute(
            "INSERT OR IGNORE INTO stream_segments (stream_id, segment_id) SELECT value, ? FROM json_each(?)",
            (segment_id, json.dumps(list(stream_ids))),
        )
        return segment_id

    @staticmethod
    def segment_streams(conn: sqlite3.Connection, segment_ids: Sequence[int]) -> list[str]:
        return [r[0] for r in conn.execute(
            f"SELECT DISTINCT stream_id FROM stream_segments WHERE segment_id IN ({_marks(segment_ids)}) "
            "ORDER BY stream_id", list(segment_ids))]

    @staticmethod
    def segments_live(conn: sqlite3.Connection, segment_ids: Sequence[int]) -> bool:
        ids = sorted(set(segment_ids))
        live = conn.execute(
            f"SELECT count(*) FROM segments WHERE retired_at IS NULL AND segment_id IN ({_marks(ids)})", ids
        ).fetchone()[0]
        return live == len(ids)

    @staticmethod
    def retire_segments(conn: sqlite3.Connection, segment_ids: Sequence[int], *, at: float | None = None) -> None:
        ids = list(segment_ids)
        conn.execute(f"DELETE FROM stream_segments WHERE segment_id IN ({_marks(ids)})", ids)
        conn.execute(f"UPDATE segments SET retired_at = ? WHERE segment_id IN ({_marks(ids)})",
                     [time.time() if at is None else at, *ids])

    @staticmethod
    def retired_segments(conn: sqlite3.Connection, *, before: float) -> list[tuple[int, str]]:
        return conn.execute(
            "SELECT segment_id, path FROM segments WHERE retired_at IS NOT NULL AND retired_at < ? "
            "ORDER BY segment_id", (before,)).fetchall()

    @staticmethod
    def forget_segment(conn: sqlite3.Connection, segment_id: int) -> None:
        conn.execute("DELETE FROM segments WHERE segment_id = ?", (segment_id,))

    @staticmethod
    def segment_paths(conn: sqlite3.Connection) -> set[str]:
        return {r[0] for r in conn.execute("SELECT path FROM segments")}

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

    @staticmethod
    def drop_fold_states(conn: sqlite3.Connection) -> list[str]:
        return [row[0] for row in conn.execute("DELETE FROM fold_states RETURNING path").fetchall()]

    # -- operational reads and tracking (point_reads, tracking) --------------------------------

    @staticmethod
    def savepoint(conn: sqlite3.Connection, action: str, name: str) -> None:
        """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` savepoint ``name`` inside a write (group commit)."""
        if action not in ("SAVEPOINT", "RELEASE", "ROLLBACK TO") or not name.isidentifier():
            raise ValueError(f"not a savepoint statement: {action} {name}")
        conn.execute(f"{action} {name}")

    @staticmethod
    def stored_checkpoint(conn: sqlite3.Connection, name: str) -> int | None:
        """Consumer ``name``'s position, or None when it has never stored one."""
        row = conn.execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def stream_sealed(conn: sqlite3.Connection, stream_id: str) -> bool:
        """Whether a live segment holds events of ``stream_id`` (else all its events are in the hot log)."""
        return conn.execute(
            "SELECT 1 FROM stream_segments ss JOIN segments s ON s.segment_id = ss.segment_id "
            "WHERE ss.stream_id = ? AND s.retired_at IS NULL LIMIT 1", (stream_id,)
        ).fetchone() is not None

    @staticmethod
    def stream_segment_files(conn: sqlite3.Connection, stream_id: str) -> list[tuple[str, int, int]]:
        """The live segments holding events of ``stream_id``: (path, first_position, last_position), in order."""
        return conn.execute(
            "SELECT s.path, s.first_position, s.last_position FROM stream_segments ss "
            "JOIN segments s ON s.segment_id = ss.segment_id "
            "WHERE ss.stream_id = ? AND s.retired_at IS NULL ORDER BY s.first_position", (stream_id,)
        ).fetchall()

    @staticmethod
    def sealed_upto(conn: sqlite3.Connection) -> int:
        """The last position a live segment holds (0: none); every later event is in the hot log."""
        row = conn.execute("SELECT max(last_position) FROM segments WHERE retired_at IS NULL").fetchone()
        return int(row[0] or 0)

    @staticmethod
    def hot_stream_rows(conn: sqlite3.Connection, stream_id: str, *, from_version: int | None = None,
                        to_version: int | None = None, backwards: bool = False,
                        limit: int | None = None) -> list[tuple]:
        """A stream's hot-log rows in version order (``HOT_COLUMNS``), by the (stream, version) index."""
        return _hot_select(conn, [("stream_id = ?", stream_id), ("version >= ?", from_version),
                                  ("version <= ?", to_version)], "version DESC" if backwards else "version", limit)

    @staticmethod
    def hot_page(conn: sqlite3.Connection, *, from_position: int = 1, to_position: int | None = None,
                 event_types: list[str] | None = None, limit: int | None = None) -> list[tuple]:
        """Hot-log rows from ``from_position`` in position order, at most ``limit`` (by the primary key)."""
        return _hot_select(conn, [("position >= ?", from_position), ("position <= ?", to_position),
                                  ("event_type IN (SELECT value FROM json_each(?))",
                                   None if event_types is None else json.dumps(event_types))], "position", limit)
    # -- the hash chain and personal data (eventkit.store.integrity) -------------------------------

    @staticmethod
    def chain_head(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
        """The last link's (seq, hash); None before the first link."""
        return conn.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()

    @staticmethod
    def add_link(conn: sqlite3.Connection, link: tuple) -> None:
        """Insert one link: (seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash)."""
        conn.execute(_ADD_LINK, link)

    @staticmethod
    def add_links(conn: sqlite3.Connection, links: list[tuple]) -> None:
        """Insert links in seq order (a group commit's appends, in one statement)."""
        if len(links) == 1:
            conn.execute(_ADD_LINK, links[0])
        else:
            conn.executemany(_ADD_LINK, links)

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


def _hot_select(conn: sqlite3.Connection, conditions: list[tuple[str, Any]], order: str,
                limit: int | None) -> list[tuple]:
    """Hot-log rows (``HOT_COLUMNS``) meeting every condition whose value is not None, in ``order``."""
    used = [(clause, value) for clause, value in conditions if value is not None]
    sql = f"SELECT {HOT_COLUMNS} FROM hot"
    if used:
        sql += " WHERE " + " AND ".join(clause for clause, _ in used)
    params = [value for _, value in used]
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return conn.execute(sql, params).fetchall()
