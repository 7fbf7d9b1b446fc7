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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

import pyarrow as pa

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.envelope import ENVELOPE_COLUMNS, utf8_encodable
from eventkit.store.event_store import Store

_HEX_UUID = re.compile(r"[0-9a-f]{32}")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SKIP = {"originator_id", "originator_version", "timestamp"}  # in the envelope already
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class ImportResult:
    """What a run imported: ``events`` new events up to notification id ``last_notification``.

    ``left_out`` (with ``decode``): per field name, how many decoded values were not made typed
    fields, because their type differs from the field's (text in a number field, a number in a true/false
    one), their name differs only in case from a field's, or their text holds a lone surrogate. Their
    events' ``state`` still holds them, byte for byte.
    """

    events: int
    last_notification: int
    first_position: int | None
    left_out: dict[str, int] = field(default_factory=dict)


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
    known = dict(store.fields) if decode else {}  # field -> type: what decoded values must fit
    left_out: Counter[str] = Counter()
    try:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {path}: {e}") from e
    # Text that is not UTF-8 reads with its bytes kept (a state's exactly; an id or topic is then refused by name).
    source.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
    try:
        _refuse_personal(store, source, table, stream_type)
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
            frame = _frame(rows, stream_type, decode, known, left_out)
            result = store.append_frame(frame, checkpoint=(consumer, int(rows[-1][0])))
            first = result.first_position if first is None else first
            after = int(rows[-1][0])
            total += len(rows)
            if progress is not None:
                progress(total)
    finally:
        source.close()
    return ImportResult(events=total, last_notification=after, first_position=first, left_out=dict(sorted(left_out.items())))


def _refuse_personal(store: Store, source: sqlite3.Connection, table: str, stream_type: str) -> None:
    """Refuse to import into events declared personal: a state is stored as bytes, whole, so a personal
    value inside it would stay in plain text there whatever ``forget`` erases."""
    declared = store.personal_declarations()
    if not declared:
        return
    hit = [d for d in declared if d.get("stream_type") == stream_type]
    if not hit:
        topics = {d["event_type"] for d in declared if "event_type" in d}
        try:
            found = {t for (t,) in source.execute(f"SELECT DISTINCT topic FROM {table}").fetchall()}
        except sqlite3.Error:
            return  # the import's own read reports it
        hit = [d for d in declared if d.get("event_type") in topics & found]
    if hit:
        raise InvalidInput(
            f"the store declares personal fields for these events ({hit[0]}): an eventsourcing state is stored as "
            "bytes, whole, so a personal value inside it would stay readable after forget; import into another "
            "stream type (--stream-type), or encrypt states in the application (eventsourcing's CIPHER_TOPIC)",
            values=hit[:3])


def _kind(value: Any) -> str:
    return {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE"}.get(type(value), "VARCHAR")


def _decoded_column(name: str, values: list[Any], known: dict[str, str], left_out: Counter[str]) -> pa.Array | None:
    """One decoded field's column, typed as the store (or the first value) has it, so that every batch size
    gives the same fields and no batch is refused: numbers join a number field (ints widen to floats, as
    the store does), anything joins a text field as its JSON text; other values are left out (counted)."""
    present = [v for v in values if v is not None]
    owner = next((k for k in known if k.lower() == name.lower()), name)
    if owner != name:  # differs only in case from a field of the store or of an earlier batch
        left_out[name] += len(present)
        return None
    kind = known.get(name) if known.get(name) not in (None, "NULL") else _kind(present[0])
    if kind in ("BIGINT", "DOUBLE") and any(type(v) is float for v in present):
        kind = "DOUBLE"
    fits = {"BOOLEAN": lambda v: type(v) is bool, "BIGINT": lambda v: type(v) is int,
            "DOUBLE": lambda v: type(v) in (int, float), "VARCHAR": lambda v: not isinstance(v, str) or utf8_encodable(v)}.get(kind)
    if fits is None:  # a field the store holds as a type JSON has no values of (a date, bytes)
        left_out[name] += len(present)
        return None
    out = []
    for v in values:
        if v is not None and not fits(v):
            left_out[name] += 1
            v = None
        out.append(v if v is None or kind != "VARCHAR" or isinstance(v, str) else json.dumps(v))
    known[name] = kind
    return pa.array([None if v is None else float(v) for v in out] if kind == "DOUBLE" else out,
                    {"BOOLEAN": pa.bool_(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "VARCHAR": pa.string()}[kind])


def _state(value: Any) -> bytes | None:
    """A stored state as bytes: SQLite keeps text (its UTF-8 bytes) or NULL in a BLOB column too."""
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else None if value is None else bytes(value)


#: What eventsourcing writes in each column (SQLite keeps any value in any column, so a table made by
#: hand or by another tool can hold others): (column, test, what it must be).
_ROW_RULES = (
    (1, lambda v: isinstance(v, str), "originator_id", "text (a UUID's 32 hex digits, or the id's text)"),
    (2, lambda v: type(v) is int and 0 <= v < 2**62, "originator_version", "a whole number from 0 to 2**62 - 1"),
    (4, lambda v: v is None or isinstance(v, (bytes, str)), "state", "bytes (a BLOB), text or NULL"),
)


def _check_rows(rows: list[tuple]) -> None:
    """Refuse a batch holding a value eventsourcing never writes, naming its notification ids: such a value
    would otherwise become a stream named 'None', a truncated version or bytes that are not the state."""
    for index, test, column, must in _ROW_RULES:
        bad = [r for r in rows if not test(r[index])]
        if bad:
            raise InvalidInput(
                f"{column} must be {must}; notification {bad[0][0]} has {bad[0][index]!r}"
                f"{f' ({len(bad)} in this batch)' if len(bad) > 1 else ''}: is this table written by eventsourcing? "
                "fix or remove those rows, then run the import again (it resumes after the last imported notification)",
                column=column, values=[r[index] for r in bad[:3]])


def _frame(rows: list[tuple], stream_type: str, decode: bool, known: dict[str, str] | None = None,
           left_out: Counter[str] | None = None) -> pa.Table:
    _check_rows(rows)
    rows = [(*r[:4], _state(r[4])) for r in rows]
    columns: dict[str, Any] = {
        "stream_id": [_stream_id(r[1]) for r in rows],
        "version": pa.array([int(r[2]) + 1 for r in rows], pa.int64()),
        "event_type": [r[3] for r in rows],
        "stream_type": [stream_type] * len(rows),
        "state": pa.array([r[4] for r in rows], pa.binary()),
    }
    if decode:
        decoded = [({}, None) if r[4] is None else _decoded(r[4]) for r in rows]
        columns["occurred_at"] = pa.array([w for _, w in decoded], pa.timestamp("us", tz="UTC"))
        known = {} if known is None else known
        left_out = Counter() if left_out is None else left_out
        for name in sorted({k for f, _ in decoded for k in f}):
            column = _decoded_column(name, [f.get(name) for f, _ in decoded], known, left_out)
            if column is not None:
                columns[name] = column
    return pa.table({k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in columns.items()})
