"""Operational reads: a stream's newest events, a page of the log, as Python records.

The analytical read path (:mod:`.read_snapshot`, :mod:`.read_frames`) hands DuckDB a snapshot and
builds a DataFrame: about 9 ms whatever the size of the answer. An application loading an aggregate
or a process paging through the log wants a few events in well under a millisecond. Events still
in the catalog's hot log are answered from it directly (an index range scan with ``LIMIT``, one read
transaction, so the answer is a consistent snapshot); a read that reaches sealed events takes the
analytical path, pruned to the segments that hold them, and converts its rows.

A stream's sealed events are read straight from the row groups that hold them: segments are sorted by
(stream_id, position) and written in small row groups (:data:`.segment_files.ROW_GROUP_SIZE`), whose
stream_id statistics, kept in a bounded cache of footers, name the one or two groups to decode.

Records go through the same two guards as every other read: each segment file is checked against its
recorded hash before it is read (:class:`.integrity.FileGuard`), and personal fields are revealed, or
left out with ``erased`` set once their subject was forgotten (:mod:`.shredding`).

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.shredding` and the catalog interface.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from eventkit.store.shredding import TOKENS, Declarations, KeyRing

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
        erased: True when a personal field of the event was erased (``forget``): that field is left
            out of ``data``, as the ``erased`` column of a frame says.
        erased_fields: Which personal fields were erased (a field the event never had is not).
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
    erased: bool = False
    erased_fields: tuple[str, ...] = ()


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
            None if meta is None else dict(meta), bool(row.get("erased")), tuple(row.get("erased_fields") or ()),
        ))
    return out


#: What a records read does with its records once they are read: reveal personal fields (or nothing).
View = Callable[[list[RecordedEvent]], list[RecordedEvent]]
#: Called inside the read's catalog transaction with the segment files it will open (relative paths):
#: checks them and returns the :data:`View` for the records, or None when there is nothing to reveal.
Guard = Callable[[Any, Sequence[str]], "View | None"]


def reveal_personal(records: list[RecordedEvent], declared: Declarations, keyring: KeyRing) -> list[RecordedEvent]:
    """Records with personal fields as the text appended; a field whose key was destroyed is left out
    and its record marked ``erased`` (what the ``events`` view does for frames, see :mod:`.shredding`)."""
    names = set(declared.fields)
    hits = [(i, k) for i, r in enumerate(records) for k in names & r.data.keys()
            if isinstance(r.data[k], str) and r.data[k].startswith(TOKENS)]
    if not hits:
        return records
    import pyarrow as pa

    values = keyring.reveal(pa.array([records[i].data[k] for i, k in hits], pa.string())).to_pylist()
    out = list(records)
    for (i, k), value in zip(hits, values):
        data = dict(out[i].data)
        if value is None:
            del data[k]
            out[i] = replace(out[i], data=data, erased=True, erased_fields=tuple(sorted({*out[i].erased_fields, k})))
        else:
            data[k] = value
            out[i] = replace(out[i], data=data)
    return out


# -- sealed events: the row groups of a segment that hold a stream -----------------------------------


@dataclass(frozen=True)
class _Footer:
    """What a point read needs of a segment's footer: the footer, and each row group's stream_id range."""

    meta: Any  # pyarrow.parquet.FileMetaData
    ranges: list[tuple[str, str] | None]  # per row group; None: no statistics (the group may hold any stream)
    cost: int  # estimated bytes in memory


class FooterCache:
    """Parsed segment footers, least recently used dropped first past ``budget`` bytes.

    Segment files never change, so a footer is good for as long as its file lives. Small row groups make
    footers large (a 2M-event segment in groups of 16,384 rows: about 150 kB on disk, 1.2 MB parsed), so
    the cache is bounded by memory, not by files: 256 MB holds the footers of ~200 such segments (400M
    events); a read of a segment whose footer was dropped parses it again (1-4 ms).
    """

    def __init__(self, budget: int = 256 * 2**20) -> None:
        self.budget = budget
        self._items: OrderedDict[str, _Footer] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, path: str) -> _Footer:
        with self._lock:
            found = self._items.get(path)
            if found is not None:
                self._items.move_to_end(path)
                return found
        footer = self._parse(path)
        with self._lock:
            if path not in self._items:
                self._items[path] = footer
                self._used += footer.cost
                while self._used > self.budget and len(self._items) > 1:
                    _, dropped = self._items.popitem(last=False)
                    self._used -= dropped.cost
        return footer

    @staticmethod
    def _parse(path: str) -> _Footer:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
        column = meta.schema.to_arrow_schema().get_field_index("stream_id")
        ranges: list[tuple[str, str] | None] = []
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(column).statistics
            ok = stats is not None and stats.has_min_max and isinstance(stats.min, str) and isinstance(stats.max, str)
            ranges.append((stats.min, stats.max) if ok else None)
        # Parsed footers take about 8 times their size on disk (measured with pyarrow 26).
        return _Footer(meta, ranges, 8 * meta.serialized_size + 200 * len(ranges))


FOOTERS = FooterCache()


def segment_stream_table(path: str, stream_id: str, from_version: int | None, to_version: int | None,
                         *, backwards: bool = False, limit: int | None = None) -> Any:
    """The rows of one stream in a segment file, decoding only row groups whose statistics may hold it.

    Segments are sorted by (stream_id, position) (see :mod:`.segment_files`), so a stream's rows are
    one run of consecutive rows, in version order, over one or a few row groups. Those groups are
    decoded one at a time from the run's newest end (``backwards``) or its oldest, stopping once
    ``limit`` rows are found: the cost follows ``limit``, not the size of the stream or the file.

    Returns:
        A table of the rows in version order (at most ``limit``: the newest ones with ``backwards``),
        or None when no row group can hold the stream.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    footer = FOOTERS.get(path)
    groups = [i for i, r in enumerate(footer.ranges) if r is None or r[0] <= stream_id <= r[1]]
    if not groups:
        return None
    # Dictionary-encoded text stays encoded: decoding a group's stream ids to strings is most of its cost.
    file = pq.ParquetFile(path, metadata=footer.meta, read_dictionary=["stream_id", "stream_type", "event_type"])
    pieces = []
    found = 0
    for g in reversed(groups) if backwards else groups:
        table = file.read_row_groups([g], use_threads=False)  # one small group: threads cost more than they save
        mask = pc.equal(table.column("stream_id"), stream_id)
        if from_version is not None:
            mask = pc.and_(mask, pc.greater_equal(table.column("version"), from_version))
        if to_version is not None:
            mask = pc.and_(mask, pc.less_equal(table.column("version"), to_version))
        table = table.filter(mask)
        if table.num_rows:
            pieces.append(table)
            found += table.num_rows
        if limit is not None and found >= limit:
            break
    if not pieces:
        return None
    table = pa.concat_tables(pieces[::-1] if backwards else pieces)
    if limit is not None and table.num_rows > limit:  # only the rows the read can return become records
        table = table.slice(table.num_rows - limit) if backwards else table.slice(0, limit)
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


def stream_records(catalog: Any, url: Callable[[str], str], stream_id: str, *, from_version: int | None,
                   to_version: int | None, backwards: bool, limit: int | None,
                   guard: Guard | None = None) -> list[RecordedEvent]:
    """A stream's events as records: hot-log rows by index, sealed ones from the row groups that hold them.

    One catalog read transaction fixes what the read sees (the hot rows and the segment list); the
    files it names stay for the store's grace period even if a compaction replaces them meanwhile.
    Segments are visited newest first for ``backwards`` (oldest first otherwise) and the visit stops
    once ``limit`` events are found that no remaining segment can beat.

    Args:
        guard: Checks the segment files inside the transaction and gives the records' view
            (see :data:`Guard`).
    """
    if limit == 0:
        return []
    with catalog.read() as tx:
        hot = catalog.hot_stream_rows(tx, stream_id, from_version=from_version, to_version=to_version,
                                      backwards=backwards, limit=limit)
        fields = catalog.fields(tx) if hot else {}
        segments = catalog.stream_segment_files(tx, stream_id)
        view = guard(tx, [s[0] for s in segments]) if guard is not None else None
    records = records_from_hot(hot, fields)
    segments = sorted(segments, key=lambda s: s[2], reverse=True) if backwards else segments
    for path, first, last in segments:
        if limit is not None and len(records) >= limit:
            records = sorted(records, key=lambda r: r.version, reverse=backwards)[:limit]
            bound = records[-1].position
            if (backwards and last < bound) or (not backwards and first > bound):
                break
        table = segment_stream_table(url(path), stream_id, from_version, to_version, backwards=backwards, limit=limit)
        if table is not None and table.num_rows:
            records.extend(records_from_segment(table))
    records.sort(key=lambda r: r.version, reverse=backwards)
    records = records if limit is None else records[:limit]
    return view(records) if view is not None else records
