"""Turning what a user appends (Event objects, DataFrames, Arrow tables) into a validated batch.

Two shapes, one meaning: a :class:`HotBatch` holds Python rows with JSON payloads, cheap for the
small appends that go to the catalog's hot log; an :class:`ArrowBatch` holds typed Arrow columns
for bulk appends that become a Parquet segment directly. Validation happens here, before the
store takes any lock, so bad input never touches the store.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.store.envelope import (
    NULL_TYPE,
    Event,
    check_field_name,
    check_name,
    check_text,
    event_micros,
    python_value,
    reconcile,
    to_micros,
    arrow_kind,
    arrow_type_for,
    utf8_encodable,
)
from eventkit.common.errors import DuplicateEventId, InvalidInput
from eventkit.store.decimals import float_column



def _flat_json(**options: Any) -> Callable[[Mapping[str, Any]], str]:
    """``json.JSONEncoder(**options).encode`` for a flat mapping of JSON scalars, built once.

    ``encode`` sets up a new C encoder on every call (a third of its cost for a one-field payload);
    the payloads and metadata encoded here hold only scalars (no cycles to watch for), so one C
    encoder serves every call. Where the C encoder is missing or differs, ``encode`` itself.
    """
    encoder = json.JSONEncoder(**options)
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        one_shot = make(None, encoder.default,
                        json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring,
                        encoder.indent, encoder.key_separator, encoder.item_separator, encoder.sort_keys,
                        encoder.skipkeys, encoder.allow_nan)
    except TypeError:  # no C encoder (None), or one with another signature
        return encoder.encode

    def encode(obj: Mapping[str, Any]) -> str:
        return "".join(one_shot(obj, 0))

    sample = {"b": 1.5, "a": "x\u00e9\"\n", "c": None, "d": True, "e": -(2**63), "f": float("inf")}
    return encode if encode(sample) == encoder.encode(sample) else encoder.encode


# Payload field names check_field_name accepted (a bounded memo: the same few names come in every append).
_CHECKED_FIELDS: set[str] = set()

# json.dumps(..., sort_keys=True), as every payload and metadata JSON has always been written.
_sorted_json = _flat_json(sort_keys=True)

_FRAME_ENVELOPE = ("stream_id", "event_type", "stream_type", "occurred_at", "event_id", "version", "metadata")
_COMPUTED = ("position", "recorded_at")


@dataclass
class HotBatch:
    """Rows for the hot log. ``occurred`` is None where the event happened "now"."""

    stream_ids: list[str]
    stream_types: list[str | None]
    event_types: list[str]
    event_ids: list[str | None]  # None: the store generates one at commit
    ids_supplied: bool
    occurred: list[int | None]
    versions: list[int] | None
    data_json: list[str | None]
    meta_json: list[str | None]
    field_types: dict[str, tuple[str, list]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stream_ids)


@dataclass
class ArrowBatch:
    """A bulk append as one Arrow table: envelope columns plus one column per payload field."""

    table: pa.Table
    payload: list[str]
    ids_supplied: bool
    has_versions: bool
    field_types: dict[str, tuple[str, list]]

    def __len__(self) -> int:
        return self.table.num_rows


def meta_json(meta: Any, where: str) -> str | None:
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        raise InvalidInput(f"metadata must be a mapping of names to values ({where})", column="metadata", values=[meta])
    out = {}
    for k, v in meta.items():
        key = check_text(str(k), "metadata key", where, envelope=False)
        out[key] = None if v is None else check_text(str(v), f"metadata value of {key!r}", where, envelope=False)
    return _sorted_json(out)


def _meta_from_text(text: str | None) -> str | None:
    """Metadata given as JSON text (an Arrow string column): must be a JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput("metadata text must be a JSON object of names to values", column="metadata", values=[text])
    return meta_json(value, "metadata column")


def _payload_json(data: Mapping[str, Any], types: dict[str, tuple[str, list]], where: str) -> str | None:
    if type(data) is not dict and not isinstance(data, Mapping):  # dict first: typing's check is slow
        raise InvalidInput(f"event data must be a mapping of field names to values ({where})", column="data", values=[data])
    out: dict[str, Any] = {}
    for name, value in data.items():
        if type(name) is not str or name not in _CHECKED_FIELDS:
            check_field_name(name)
            if type(name) is str and len(_CHECKED_FIELDS) < 10_000:
                _CHECKED_FIELDS.add(name)
        # The commonest values classified inline (python_value's rules for them, without its checks in turn).
        t = type(value)
        if t is float:
            kind, jv = "DOUBLE", None if value != value else value  # NaN means missing
        elif t is int and -(2**63) <= value < 2**63:
            kind, jv = "BIGINT", value
        else:
            kind, jv = python_value(name, value)
        if jv is None:
            continue
        prior = types.get(name)
        if prior is None:
            types[name] = (kind, [value])  # reconcile(name, None, kind) is kind (kind is not NULL here)
        else:
            merged = reconcile(name, prior[0], kind, values=[value])
            prior[1].append(value) if len(prior[1]) < 5 else None
            types[name] = (merged, prior[1])
        out[name] = jv
    # +-inf is a number (DuckDB reads JSON's Infinity); NaN never gets here (it means missing).
    return _sorted_json(out) if out else None


def hot_from_events(stream_id: Any, events: Iterable[Event], stream_type: str | None) -> HotBatch:
    """Validate ``store.append(stream_id, events)`` input into a :class:`HotBatch`."""
    check_text(stream_id, "stream_id", "append")
    if isinstance(events, Event):
        events = [events]
    return hot_from_pairs([(stream_id, ev) for ev in events], stream_type)


def hot_from_pairs(pairs: list[tuple[Any, Any]], stream_type: str | None) -> HotBatch:
    """Validate ``(stream_id, Event)`` pairs (one append, maybe many streams) into a :class:`HotBatch`."""
    if stream_type is not None:
        check_name(stream_type, "stream_type")
    types: dict[str, tuple[str, list]] = {}
    sids, ids, occurred, data, meta, etypes, versions = [], [], [], [], [], [], []
    supplied = False
    for i, (stream_id, ev) in enumerate(pairs):
        check_text(stream_id, "stream_id", "append")
        where = f"event {i} of stream {stream_id!r}"
        if not isinstance(ev, Event):
            raise InvalidInput(f"append takes ek.Event objects; got a {type(ev).__name__} ({where})", values=[ev])
        sids.append(stream_id)
        etypes.append(check_text(ev.event_type, "event_type", where))
        if ev.event_id is None:
            ids.append(None)
        else:
            supplied = True
            ids.append(check_text(ev.event_id, "event_id", where))
        # NaT is pandas' null for times: "when recorded", as a null in a frame's occurred_at column.
        missing = ev.occurred_at is None or (isinstance(ev.occurred_at, (datetime.datetime, np.datetime64))
                                             and pd.isna(ev.occurred_at))
        occurred.append(None if missing else event_micros(ev.occurred_at, what="occurred_at"))
        data.append(_payload_json(ev.data, types, where))
        meta.append(meta_json(ev.metadata, where))
        versions.append(_event_version(ev.version, where))
    given = [v is not None for v in versions]
    if any(given) and not all(given):
        raise InvalidInput("in one append either every event gives a version or none does",
                           column="version", values=versions[:5])
    batch = HotBatch(
        stream_ids=sids,
        stream_types=[stream_type] * len(sids),
        event_types=etypes,
        event_ids=ids,
        ids_supplied=supplied,
        occurred=occurred,
        versions=versions if versions and all(given) else None,
        data_json=data,
        meta_json=meta,
        field_types=types,
    )
    check_unique_ids([i for i in batch.event_ids if i is not None])
    return batch


#: The largest version an append may give: the appends after it number on from it, and 2**62 more
#: events still fit 64 bits (a version at 2**63 - 1 made the next bulk append wrap round to -2**63).
MAX_VERSION = 2**62


def _event_version(version: Any, where: str) -> int | None:
    if version is None:
        return None
    if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)) or not 1 <= version <= MAX_VERSION:
        raise InvalidInput(f"an event's version must be a whole number from 1 to 2**62 ({where})", column="version",
                           values=[version])
    return int(version)


def check_unique_ids(ids: list[str] | pa.Array) -> None:
    if len(ids) < 2:
        return
    arr = pa.array(ids, pa.string()) if not isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
    counts = pc.value_counts(arr)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup):
        raise DuplicateEventId(
            f"{len(dup)} event id(s) appear more than once in this append, e.g. "
            + ", ".join(repr(v) for v in dup.field("values").to_pylist()[:5])
            + "; every event needs its own id"
        )


# ---------------------------------------------------------------------------------------------
# Frames


def frame_to_arrow(frame: Any) -> pa.Table:
    """A DataFrame or Arrow table as an Arrow table, naming the column that cannot convert."""
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if isinstance(frame, pa.Table):
        return frame
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is None or not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"append_frame takes a pandas DataFrame or a pyarrow Table, not a {type(frame).__name__}")
    if len(set(map(str, frame.columns))) != len(frame.columns):
        raise InvalidInput("the frame has duplicate column names", values=list(frame.columns))
    for col in frame.columns:
        check_text(str(col), "column name", envelope=False)
    arrays, names = [], []
    for col in frame.columns:
        series = frame[col]
        try:
            if col == "metadata":
                arrays.append(pa.array([None if _absent(v, pd) else meta_json(v, "metadata column") for v in series], pa.string()))
            else:
                array = pa.array(series, from_pandas=True)
                if (pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type)) and series.dtype == object:
                    text = [v for v in series if isinstance(v, str)][:3]
                    if text:  # pyarrow would store the text as bytes: it would not read back as written
                        raise InvalidInput(f"column {col!r} mixes text and bytes; make it one or the other "
                                           "(text.encode() for bytes)", column=str(col), values=text)
                arrays.append(array)
        except UnicodeEncodeError:
            bad = [v for v in series if isinstance(v, str) and not utf8_encodable(v)]
            raise InvalidInput(
                f"column {col!r} holds text with a lone surrogate (half of a UTF-16 pair), which no UTF-8 "
                "store can hold; decode the source text properly (or replace it) first",
                column=str(col), values=bad,
            ) from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as e:
            bad = [v for v in series.head(1000) if v is not None and not isinstance(v, (str, int, float, bool))]
            raise InvalidInput(
                f"column {col!r} cannot be stored: {e}; payload values are flat scalars "
                "(bool, int, float, str, date, datetime) of one kind per column",
                column=str(col),
                values=bad or list(series.head(3)),
            ) from None
        names.append(str(col))
    return pa.Table.from_arrays(arrays, names=names)


def _absent(value: Any, pd: Any) -> bool:
    """A missing metadata value as pandas spells it: None, NaN, ``pd.NA`` (a read frame's) or ``pd.NaT``."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _string_column(table: pa.Table, name: str, *, required: bool) -> pa.Array | None:
    if name not in table.column_names:
        if required:
            raise InvalidInput(f"the frame has no {name!r} column; it is required", column=name, values=[])
        return None
    col = table.column(name).combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type)):
        if pa.types.is_null(col.type) and len(col) and required:
            raise InvalidInput(f"column {name!r} is all null; every event needs one", column=name)
        if pa.types.is_null(col.type):
            return None
        raise InvalidInput(f"column {name!r} must hold strings, not {col.type}", column=name, values=col.slice(0, 3).to_pylist())
    col = col.cast(pa.string())
    if required:
        bad = pc.or_kleene(pc.is_null(col), pc.equal(col, ""))
        if pc.any(bad).as_py():
            rows = pc.indices_nonzero(pc.fill_null(bad, True)).to_pylist()[:5]
            raise InvalidInput(f"column {name!r} has null or empty values at rows {rows}; every event needs one", column=name)
    if name != "stream_type":  # stream types are names, checked as such
        nul = pc.match_substring(col, "\x00")
        if pc.any(nul).as_py():
            raise InvalidInput(
                f"column {name!r} holds NUL characters (\\x00); remove them", column=name,
                values=col.filter(pc.fill_null(nul, False)).slice(0, 5).to_pylist(),
            )
    return col


def _time_column(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    col = table.column(name).combine_chunks()
    t = col.type
    if pa.types.is_null(t):
        return None
    if pa.types.is_timestamp(t):
        return utc_micros(col, name)
    if pa.types.is_date(t):
        return utc_micros(col.cast(pa.timestamp("us")), name)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        blank = pc.equal(pc.utf8_trim_whitespace(col), "")
        if pc.any(blank).as_py():
            # Null means "when it is recorded"; empty text is more likely a lost value.
            rows = pc.indices_nonzero(pc.fill_null(blank, False)).to_pylist()[:5]
            raise InvalidInput(
                f"column {name!r} holds empty text at rows {rows}; give a time, or null for 'when recorded'",
                column=name,
            )
        values = col.to_pandas()
        try:
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            bad = [v for v in values if v is not None and pd.isna(pd.to_datetime(v, errors="coerce", utc=True))]
            raise InvalidInput(f"column {name!r} holds text that is not an ISO 8601 time", column=name, values=bad) from None
        return utc_micros(pa.array(parsed), name)
    raise InvalidInput(
        f"column {name!r} must hold timestamps or ISO 8601 strings, not {t}", column=name, values=col.slice(0, 3).to_pylist()
    )


def utc_micros(col: pa.Array, name: str) -> pa.Array:
    """A timestamp column as UTC microseconds, refusing values with nanoseconds (not kept exactly).

    A naive timestamp means UTC (documented): the cast keeps its wall-clock value as UTC.
    """
    t = col.type
    try:
        out = col.cast(pa.timestamp("us", tz=t.tz or "UTC")).cast(pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        if t.unit != "ns":  # seconds or milliseconds beyond what microseconds can count
            raise InvalidInput(f"column {name!r} holds times outside years 1-9999", column=name) from None
        ticks = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
        bad = col.filter(pa.array(ticks % 1000 != 0)).slice(0, 5).to_pylist()
        raise InvalidInput(
            f"column {name!r} holds times with nanoseconds, but eventkit keeps times to the microsecond; "
            "round them first (e.g. series.dt.floor('us'))",
            column=name, values=bad,
        ) from None
    ticks = out.cast(pa.int64())
    outside = pc.or_(pc.less(ticks, _MIN_MICROS), pc.greater(ticks, _MAX_MICROS))
    if pc.any(outside).as_py():
        # pandas and Arrow hold times Python cannot (year 0, year 10000): refuse them as the
        # Event path does, so every path keeps the same range.
        rows = pc.indices_nonzero(pc.fill_null(outside, False)).to_pylist()[:5]
        raise InvalidInput(
            f"column {name!r} holds times outside years 1-9999 in UTC at rows {rows}; eventkit keeps times "
            "in UTC within that range",
            column=name,
        )
    return out


_MIN_MICROS = to_micros(datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc))
_MAX_MICROS = to_micros(datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone.utc))


def _data_struct_as_fields(table: pa.Table) -> pa.Table:
    """A ``data`` struct column (``store.sql("SELECT * FROM events")`` gives one) as its payload fields."""
    if "data" not in table.column_names or not pa.types.is_struct(table.schema.field("data").type):
        return table
    struct = table.schema.field("data").type
    names = [struct.field(i).name for i in range(struct.num_fields)]
    clash = [n for n in names if n in table.column_names]
    if clash:
        raise InvalidInput(f"the frame has the payload fields {clash[:3]} twice, as columns and inside the struct "
                           "column 'data'; drop one of them", column=clash[0], values=clash[:3])
    flat = table.column("data").combine_chunks().flatten()  # flatten() applies the struct's nulls
    rest = table.drop_columns(["data"])
    return pa.Table.from_arrays(list(rest.columns) + list(flat), names=rest.column_names + names)


def arrow_batch_from_frame(frame: Any, date_fields: Callable[[], Iterable[str]] | None = None) -> ArrowBatch:
    """Validate a frame for ``append_frame``: envelope columns by name, the rest payload.

    ``date_fields``: the payload fields the store holds as DATE (asked only if the frame has a time column).
    A time column at midnight UTC throughout joins such a field as dates: reads give a DATE field back as
    midnight timestamps (pandas has no date type), so a frame read from the store appends back unchanged.
    """
    table = _data_struct_as_fields(frame_to_arrow(frame))
    if table.num_rows == 0:
        raise InvalidInput("the frame has no rows; an append needs at least one event")
    if "erased_fields" in table.column_names:
        raise InvalidInput(
            "columns 'erased' and 'erased_fields' are added by reads of a store with personal fields (which "
            "personal fields lost their key); drop them from the frame (an erased value is NULL in it and "
            "would be stored as a plain NULL), or carry erasures into a new store with Scenario.materialize",
            column="erased_fields")
    for name in _COMPUTED:
        if name in table.column_names:
            raise InvalidInput(f"column {name!r} is assigned by the store at commit; drop it from the frame", column=name)
    cols: dict[str, pa.Array] = {
        "stream_id": _string_column(table, "stream_id", required=True),
        "event_type": _string_column(table, "event_type", required=True),
    }
    stream_type = _string_column(table, "stream_type", required=False)
    if stream_type is not None:
        for v in pc.unique(stream_type).to_pylist():
            if v is not None:
                check_name(v, "stream_type")
        cols["stream_type"] = stream_type
    occurred = _time_column(table, "occurred_at")
    if occurred is not None:
        cols["occurred_at"] = occurred
    event_id = _string_column(table, "event_id", required=False)
    ids_supplied = event_id is not None and event_id.null_count < len(event_id)
    if event_id is not None:
        if pc.any(pc.equal(event_id, "")).as_py():
            raise InvalidInput("column 'event_id' has empty strings", column="event_id")
        check_unique_ids(event_id.filter(pc.is_valid(event_id)))
        cols["event_id"] = event_id
    has_versions = "version" in table.column_names
    if has_versions:
        v = table.column("version").combine_chunks()
        if not pa.types.is_integer(v.type) or v.null_count:
            raise InvalidInput("column 'version' must hold integers with no nulls", column="version", values=v.slice(0, 3).to_pylist())
        v = v.cast(pa.int64())
        outside = pc.or_(pc.less(v, 1), pc.greater(v, MAX_VERSION))
        if pc.any(outside).as_py():
            raise InvalidInput("column 'version' must hold whole numbers from 1 to 2**62", column="version",
                               values=v.filter(outside).to_pylist()[:3])
        cols["version"] = v
    if "metadata" in table.column_names:
        m = table.column("metadata").combine_chunks()
        if pa.types.is_null(m.type):
            pass
        elif pa.types.is_string(m.type) or pa.types.is_large_string(m.type):
            cols["metadata"] = pa.array([_meta_from_text(v) for v in m.to_pylist()], pa.string())
        elif pa.types.is_map(m.type):  # as Arrow reads give it back (a list of key/value pairs per event)
            cols["metadata"] = pa.array([None if v is None else meta_json(dict(v), "metadata column")
                                         for v in m.to_pylist()], pa.string())
        else:
            raise InvalidInput("column 'metadata' must hold mappings (dicts)", column="metadata", values=m.slice(0, 3).to_pylist())
    payload, types = [], {}
    held_dates: set[str] | None = None
    for name in table.column_names:
        if name in _FRAME_ENVELOPE:
            continue
        check_field_name(name)
        col = table.column(name).combine_chunks()
        kind = arrow_kind(name, col.type)
        if kind == NULL_TYPE:
            continue  # an all-null column carries nothing to store
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        target = arrow_type_for(kind)
        if pa.types.is_timestamp(col.type):
            col = utc_micros(col, name)
            if date_fields is not None and _midnights(col):
                if held_dates is None:
                    held_dates = set(date_fields())
                if name in held_dates:
                    kind, target = "DATE", arrow_type_for("DATE")
        if pa.types.is_decimal(col.type):  # as a float only where it reads back as the same number
            col = float_column(name, col)
        try:
            col = col.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise InvalidInput(f"payload column {name!r} cannot be stored as {kind}: {e}", column=name) from None
        if kind == "DOUBLE":
            col = pc.if_else(pc.is_nan(col), None, col)  # NaN means missing, as in pandas
        cols[name] = col
        payload.append(name)
        types[name] = (kind, col.drop_null().slice(0, 5).to_pylist())
    out = pa.table(cols)
    return ArrowBatch(table=out, payload=payload, ids_supplied=ids_supplied, has_versions=has_versions, field_types=types)


def _midnights(col: pa.Array) -> bool:
    """Whether every time in a UTC microsecond timestamp column (nulls aside) is a midnight."""
    micros = pc.drop_null(col).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return bool(len(micros)) and not (micros % 86_400_000_000).any()


def hot_from_arrow(batch: ArrowBatch) -> HotBatch:
    """A small frame becomes hot-log rows: same validation, Python rows instead of a segment."""
    t = batch.table
    n = t.num_rows
    col = lambda name: t.column(name).to_pylist() if name in t.column_names else [None] * n  # noqa: E731
    occurred = [None if v is None else to_micros(v) for v in col("occurred_at")]
    ids = col("event_id")
    payload = t.select(batch.payload).to_pylist() if batch.payload else [{}] * n
    data = []
    for row in payload:
        out = {}
        for k, v in row.items():
            if v is None:
                continue
            out[k] = python_value(k, v)[1]
        data.append(_sorted_json(out) if out else None)
    return HotBatch(
        stream_ids=col("stream_id"),
        stream_types=col("stream_type"),
        event_types=col("event_type"),
        event_ids=ids,
        ids_supplied=batch.ids_supplied,
        occurred=occurred,
        versions=col("version") if batch.has_versions else None,
        data_json=data,
        meta_json=col("metadata"),
        field_types=batch.field_types,
    )


def canonical_payload(data: Mapping[str, Any] | None) -> str:
    """A comparable form of a payload: nulls dropped, numbers as floats, times as UTC ISO."""
    out: dict[str, Any] = {}
    for k, v in (data or {}).items():
        if v is None:
            continue
        kind, jv = python_value(k, v)
        if jv is None:
            continue
        out[k] = float(jv) if kind in ("BIGINT", "DOUBLE") else jv
    return _sorted_json(out)
