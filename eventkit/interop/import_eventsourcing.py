"""Import an eventsourcing application's history from its SQLite database into a store, incrementally.

A team with an application already in production (eventsourcing's ``eventsourcing.sqlite``
persistence) analyses its history without changing the application: each run appends the
notifications recorded since the last run. Each batch commits with the consumer checkpoint
``consumer`` set to its last notification id (``append_frame(..., checkpoint=...)``), so a run
that stops half-way (killed, disk full) resumes exactly after the last committed batch: never a
notification twice, never one skipped.

The mapping is the one of :mod:`eventkit.interop.eventsourcing`: ``stream_id`` is the originator id
(a UUID stored as 32 hex digits becomes its hyphenated form), ``version`` is ``originator_version + 1``,
``event_type`` the topic, the payload field ``state`` the stored bytes. With ``decode=True`` the state
of the default JSON transcoder is also read: its ``timestamp`` becomes ``occurred_at`` and its
top-level scalar values become typed payload fields (``data.amount``); a state that is not JSON
(compressed or encrypted) keeps only ``state``.

May use the store's public API (:class:`eventkit.Store`), pyarrow and the standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

import pyarrow as pa

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.envelope import ENVELOPE_COLUMNS
from eventkit.store.event_store import Store

_HEX_UUID = re.compile(r"[0-9a-f]{32}")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SKIP = {"originator_id", "originator_version", "timestamp"}  # in the envelope already
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class ImportResult:
    """What a run imported: ``events`` new events up to notification id ``last_notification``."""

    events: int
    last_notification: int
    first_position: int | None


def _stream_id(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return str(UUID(text)) if _HEX_UUID.fullmatch(text) else text


def _decoded(state: bytes) -> tuple[dict[str, Any], Any]:
    """Scalar top-level values and the timestamp of a JSON-transcoded state ({} and None otherwise)."""
    try:
        obj = json.loads(state)
    except (ValueError, UnicodeDecodeError):
        return {}, None
    if not isinstance(obj, dict):
        return {}, None
    fields = {k: v for k, v in obj.items()
              if k not in _SKIP and _FIELD.fullmatch(k) and k.lower() not in ENVELOPE_COLUMNS and k.lower() != "state"
              and isinstance(v, (str, int, float, bool)) and not (isinstance(v, int) and not -2**63 <= v < 2**63)}
    stamp = obj.get("timestamp")
    if isinstance(stamp, dict) and stamp.get("_type_") == "datetime_iso":
        stamp = stamp.get("_data_")
    when = None
    if isinstance(stamp, str):
        try:
            when = dt.datetime.fromisoformat(stamp)
        except ValueError:
            when = None
    return fields, when


def import_eventsourcing(store: Store, database: str | Path, *, table: str = "stored_events",
                         consumer: str = "eventsourcing-import", stream_type: str = "eventsourcing",
                         decode: bool = False, batch_size: int = 10_000,
                         progress: Callable[[int], None] | None = None) -> ImportResult:
    """Append the notifications of ``database`` recorded after ``consumer``'s checkpoint.

    Args:
        store: The store to import into.
        database: The application's SQLite file (eventsourcing's ``SQLITE_DBNAME``).
        table: Its events table (``stored_events``, or ``<name>_events`` for named tables).
        consumer: The checkpoint that remembers how far earlier runs got (one per source).
        stream_type: The stream type of imported streams.
        decode: Also read JSON states into ``occurred_at`` and typed payload fields.
        batch_size: Notifications per transaction.
        progress: Called with the number of events imported so far, after each batch.

    Returns:
        How many events this run imported and the last notification id now imported.

    Raises:
        StoreError: The database cannot be read, or has no such table.

    Example:
        >>> import_eventsourcing(store, "bank.sqlite").events
        1204
    """
    if not _TABLE.fullmatch(table):
        raise InvalidInput("table must be an SQL name (letters, digits, '_')", column="table", values=[table])
    path = Path(database)
    if not path.is_file():
        raise StoreError(f"no eventsourcing database at {path}")
    after = store.checkpoint(consumer) or 0
    total, first = 0, None
    try:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {path}: {e}") from e
    try:
        while True:
            try:
                rows = source.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                    "WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, batch_size)).fetchall()
            except sqlite3.Error as e:
                raise StoreError(f"cannot read table {table!r} of {path}: {e} (is it an eventsourcing "
                                 "SQLite database? give --table for a named events table)") from e
            if not rows:
                break
            frame = _frame(rows, stream_type, decode)
            result = store.append_frame(frame, checkpoint=(consumer, int(rows[-1][0])))
            first = result.first_position if first is None else first
            after = int(rows[-1][0])
            total += len(rows)
            if progress is not None:
                progress(total)
    finally:
        source.close()
    return ImportResult(events=total, last_notification=after, first_position=first)


def _frame(rows: list[tuple], stream_type: str, decode: bool) -> pa.Table:
    columns: dict[str, Any] = {
        "stream_id": [_stream_id(r[1]) for r in rows],
        "version": pa.array([int(r[2]) + 1 for r in rows], pa.int64()),
        "event_type": [r[3] for r in rows],
        "stream_type": [stream_type] * len(rows),
        "state": pa.array([bytes(r[4]) for r in rows], pa.binary()),
    }
    if decode:
        decoded = [_decoded(bytes(r[4])) for r in rows]
        columns["occurred_at"] = pa.array([w for _, w in decoded], pa.timestamp("us", tz="UTC"))
        names = sorted({k for f, _ in decoded for k in f})
        for name in names:
            values = [f.get(name) for f, _ in decoded]
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # one field, several kinds: kept as text
                columns[name] = pa.array([None if v is None else json.dumps(v) if not isinstance(v, str) else v
                                          for v in values], pa.string())
    return pa.table({k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in columns.items()})
