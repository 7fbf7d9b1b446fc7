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
HOT_COLUMNS = "position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at, data, metadata"


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
        """head, last_recorded, hot_count and fields_version in one query (the append hot path)."""
        state = {"head": 0, "last_recorded": 0, "hot_count": 0, "fields_version": 0}
        for key, value in conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('head', 'last_recorded', 'hot_count', 'fields_version')"
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
        conn.executemany(
            "INSERT INTO streams VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
            "version = excluded.version, last_position = excluded.last_position",
            heads,
        )

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
        conn.executemany("INSERT INTO hot VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    @staticmethod
    def hot_rows(conn: sqlite3.Connection, *, upto: int, stream_id: str | None = None,
                 from_position: int | None = None, recorded_cut: int | None = None) -> list[tuple]:
        sql = f"SELECT {HOT_COLUMNS} FROM hot WHERE position <= ?"
        params: list[Any] = [upto]
        if stream_id is not None:
            sql += " AND stream_id = ?"
            params.append(stream_id)
        if from_position is not None:
            sql += " AND position >= ?"
            params.append(from_position)
        if recorded_cut is not None:
            sql += " AND recorded_at <= ?"
            params.append(recorded_cut)
        return conn.execute(sql + " ORDER BY position", params).fetchall()

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
            "min_occurred, max_occurred, min_recorded, max_recorded) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                seg.path, seg.stream_type, seg.first_position, seg.last_position, seg.event_count, seg.size_bytes,
                seg.min_occurred, seg.max_occurred, seg.min_recorded, seg.max_recorded,
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
