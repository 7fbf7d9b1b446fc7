"""Operational reads: a stream's newest events, a page of the log, as Python records.

The analytical read path (:mod:`.read_snapshot`, :mod:`.read_frames`) hands DuckDB a snapshot and
builds a DataFrame: about 9 ms whatever the size of the answer. An application loading an aggregate
or a process paging through the log wants a few events in well under a millisecond. Events still
in the catalog's hot log are answered from it directly (an index range scan with ``LIMIT``, one read
transaction, so the answer is a consistent snapshot); a read that reaches sealed events takes the
analytical path, pruned to the segments that hold them, and converts its rows.

May use :mod:`eventkit.common`, :mod:`.envelope` and the catalog interface.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

#: The hot-log columns point reads fetch, in this order.
HOT_COLUMNS = "position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at, data, metadata"


@dataclass(frozen=True)
class RecordedEvent:
    """One stored event, as ``output="records"`` reads return it.

    Attributes:
        position: Its place in the store's log.
        stream_id: The stream it belongs to.
        stream_type: The kind of stream.
        version: Its number in the stream.
        event_type: What happened.
        event_id: Its unique id.
        occurred_at: Valid time (aware, UTC).
        recorded_at: Transaction time (aware, UTC).
        data: The payload: field name -> value (fields the event does not have are left out).
        metadata: Context (name -> text), or None.
    """

    position: int
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    event_id: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    data: dict[str, Any]
    metadata: dict[str, str] | None


def _time(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def _decoders(fields: Mapping[str, str]) -> dict[str, Any]:
    """Per-field conversions from the hot log's JSON values to the values the store reads back."""
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        if kind == "BLOB":
            out[name] = base64.b64decode
        elif kind == "TIMESTAMPTZ":
            out[name] = lambda v: dt.datetime.fromisoformat(v).astimezone(dt.timezone.utc)
        elif kind == "DATE":
            out[name] = dt.date.fromisoformat
        elif kind == "DOUBLE":
            out[name] = float  # an integer stored before the field widened reads back as a float
    return out


def records_from_hot(rows: Sequence[tuple], fields: Mapping[str, str]) -> list[RecordedEvent]:
    """Hot-log rows (``HOT_COLUMNS`` order) as records, payloads typed by the store's schema."""
    decode = _decoders(fields)
    out = []
    for r in rows:
        data = json.loads(r[8]) if r[8] else {}
        if decode:
            for name in data.keys() & decode.keys():
                data[name] = decode[name](data[name])
        out.append(RecordedEvent(r[0], r[1], r[2], r[3], r[4], r[5], _time(r[6]), _time(r[7]), data,
                                 json.loads(r[9]) if r[9] else None))
    return out


def records_from_arrow(table: Any, fields: Sequence[str]) -> list[RecordedEvent]:
    """A flat read (envelope, ``metadata``, one column per field) as records."""
    out = []
    for row in table.to_pylist():
        data = {name: row[name] for name in fields if row.get(name) is not None}
        meta = row["metadata"]
        out.append(RecordedEvent(
            row["position"], row["stream_id"], row["stream_type"], row["version"], row["event_type"],
            row["event_id"], row["occurred_at"], row["recorded_at"], data,
            None if meta is None else dict(meta),
        ))
    return out


# -- sealed events: Parquet row groups chosen by their stream_id statistics --------------------------

_FOOTERS: dict[str, Any] = {}  # segment files never change: their footers are cached for good


def _footer(path: str) -> Any:
    import pyarrow.parquet as pq

    meta = _FOOTERS.get(path)
    if meta is None:
        meta = pq.read_metadata(path)
        if len(_FOOTERS) >= 4096:
            _FOOTERS.clear()
        _FOOTERS[path] = meta
    return meta


def segment_stream_table(path: str, stream_id: str, from_version: int | None, to_version: int | None,
                         *, backwards: bool = False, limit: int | None = None) -> Any:
    """The rows of one stream in a segment file, reading only the row groups whose statistics may hold it.

    Segments are sorted by (stream_id, position) (see :mod:`.segment_files`), so a stream's rows sit in
    one or two row groups of a file.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    meta = _footer(path)
    column = meta.schema.to_arrow_schema().get_field_index("stream_id")
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max or stats.min <= stream_id <= stats.max:
            groups.append(i)
    if not groups:
        return None
    # Dictionary-encoded text stays encoded: decoding 122,880 stream ids to strings costs ~5 ms.
    table = pq.ParquetFile(path, metadata=meta, read_dictionary=["stream_id", "stream_type", "event_type"]
                           ).read_row_groups(groups)
    mask = pc.equal(table.column("stream_id"), stream_id)
    if from_version is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column("version"), from_version))
    if to_version is not None:
        mask = pc.and_(mask, pc.less_equal(table.column("version"), to_version))
    table = table.filter(mask)
    if limit is not None and table.num_rows > limit:  # only the rows the read can return become records
        table = table.take(pc.sort_indices(table, sort_keys=[("version", "descending" if backwards else "ascending")]))
        table = table.slice(0, limit)
    return table


def records_from_segment(table: Any) -> list[RecordedEvent]:
    """Raw segment rows (a ``data`` struct, ``metadata`` as a map) as records."""
    out = []
    names = table.column_names
    for row in table.to_pylist():
        data = row.get("data") if "data" in names else None
        meta = row.get("metadata")
        out.append(RecordedEvent(
            row["position"], row["stream_id"], row["stream_type"], row["version"], row["event_type"],
            row["event_id"], row["occurred_at"], row["recorded_at"],
            {k: v for k, v in (data or {}).items() if v is not None},
            None if meta is None else dict(meta),
        ))
    return out


def stream_records(catalog: Any, url: Any, stream_id: str, *, from_version: int | None, to_version: int | None,
                   backwards: bool, limit: int | None) -> list[RecordedEvent]:
    """A stream's events as records: hot-log rows by index, sealed ones from the row groups that hold them.

    One catalog read transaction fixes what the read sees (the hot rows and the segment list); the
    files it names stay for the store's grace period even if a compaction replaces them meanwhile.
    Segments are visited newest first for ``backwards`` (oldest first otherwise) and the visit stops
    once ``limit`` events are found that no remaining segment can beat.
    """
    with catalog.read() as tx:
        hot = catalog.hot_stream_rows(tx, stream_id, from_version=from_version, to_version=to_version,
                                      backwards=backwards, limit=limit)
        fields = catalog.fields(tx) if hot else {}
        segments = catalog.stream_segment_files(tx, stream_id)
    records = records_from_hot(hot, fields)
    if not segments:
        return records
    segments = sorted(segments, key=lambda s: s[2], reverse=True) if backwards else segments
    for path, first, last in segments:
        if limit is not None and len(records) >= limit:
            best = sorted(records, key=lambda r: r.version, reverse=backwards)[:limit]
            bound = best[-1].position
            if (backwards and last < bound) or (not backwards and first > bound):
                break
            records = best
        table = segment_stream_table(url(path), stream_id, from_version, to_version, backwards=backwards, limit=limit)
        if table is not None and table.num_rows:
            records.extend(records_from_segment(table))
    records.sort(key=lambda r: r.version, reverse=backwards)
    return records if limit is None else records[:limit]
