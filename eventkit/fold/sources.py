"""The events one fold run reads: :class:`Source` (an open, cut DuckDB view of the store) and
:func:`open_source`, shared by declarative folds, Python folds, series, totals and persisted states.

May use :mod:`eventkit.common`, :mod:`eventkit.store` (through the store object it is given) and
:mod:`.reducers`.
"""

from __future__ import annotations

import datetime as _dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import duckdb

from eventkit.common.errors import InvalidFold
from eventkit.common.sql import quote_ident
from eventkit.common.timeparse import parse_as_of, parse_known_at
from eventkit.fold.reducers import ENVELOPE_FIELDS, Leaf, Schema, sql_constant

#: The event columns of a store with personal fields: whether the event lost one, and which (see .erasure).
ERASURE_COLUMNS = ("erased", "erased_fields")


@dataclass
class Source:
    """An open, cut view of the store's events for one fold run.

    Attributes:
        con: The DuckDB connection (closed by :func:`open_source`'s context manager).
        schema: Types of the envelope and payload fields.
        relation: SQL for a subquery of the cut events, envelope columns plus one top-level column
            per payload field (so ``where=`` can say ``amount > 10``) plus ``data``.
    """

    con: duckdb.DuckDBPyConnection
    schema: Schema
    relation: str
    store: Any = None  # the store folded (for checks against everything it holds)
    personal: tuple[str, ...] = ()  # the store's personal fields, when events carry ``erased_fields`` (see .erasure)

    def known_position(self) -> int:
        """The highest position in the cut (the snapshot's high-water mark), 0 if empty."""
        return int(self.con.sql("SELECT coalesce(max(position), 0) FROM events").fetchall()[0][0])


def read_schema(con: duckdb.DuckDBPyConnection) -> Schema:
    """Read the envelope and payload field types of the ``events`` relation."""
    rel = con.sql("SELECT * FROM events LIMIT 0")
    envelope: dict[str, str] = {}
    payload: dict[str, str] = {}
    for name, typ in zip(rel.columns, rel.types):
        if name == "data":
            if typ.id == "struct":
                payload = {n: str(t) for n, t in typ.children}
        elif name in ENVELOPE_FIELDS or name in ERASURE_COLUMNS:  # a store with personal fields
            envelope[name] = str(typ)
    missing = [f for f in ("stream_id", "version", "position", "occurred_at", "event_type") if f not in envelope]
    if missing:
        raise InvalidFold(f"the store's events relation lacks envelope columns {missing}")
    return Schema(payload=payload, envelope=envelope)


@contextmanager
def open_source(
    store: Any,
    *,
    stream_type: str | None,
    as_of: Any = None,
    known_at: Any = None,
    streams: Any = None,
    extra_where: str | None = None,
) -> Iterator[Source]:
    """Open a connection on the store cut at ``known_at`` and describe the events to fold.

    Args:
        store: Anything with ``connect(known_at=None) -> DuckDBPyConnection`` exposing ``events``.
        stream_type: Keep only streams of this type (None: all).
        as_of: Valid-time cut (occurred_at <= as_of).
        known_at: Transaction-time cut (an int position or a time), done by the store.
        streams: One stream id or several (None: all).
        extra_where: Another SQL condition on the flat relation.
    """
    as_of_t = parse_as_of(as_of)
    known = parse_known_at(known_at)
    stream_list = checked_stream_ids(streams)
    con = _connect(store, known, stream_type, stream_list)
    try:
        # Our own connection: make TIMESTAMPTZ arithmetic and pandas output UTC whatever the host.
        con.execute("SET TimeZone = 'UTC'")
        schema = read_schema(con)
        cols = [quote_ident(c) for c in (*ENVELOPE_FIELDS, *ERASURE_COLUMNS) if c in schema.envelope] + ["data"]
        state = getattr(store, "personal_state", None)
        personal = tuple(state()[0]) if state is not None and "erased_fields" in schema.envelope else ()
        cols += [f"data.{quote_ident(n)} AS {quote_ident(n)}" for n in schema.payload if n not in schema.envelope]
        conds = []
        if stream_type is not None:
            conds.append(f"stream_type = {sql_constant(stream_type)}")
        if as_of_t is not None:
            conds.append(f"occurred_at <= {_ts(as_of_t)}")
        if stream_list is not None and len(stream_list) <= _INLINE_STREAMS:
            # Constants reach the Parquet scan, whose row-group statistics (segments are sorted
            # by stream_id) then skip nearly everything: a one-stream fold reads a few row groups.
            conds.append("stream_id IN (" + ", ".join(sql_constant(s) for s in stream_list) + ")"
                         if stream_list else "FALSE")
        elif stream_list is not None:
            import pyarrow as pa

            con.register("_ek_streams", pa.table({"stream_id": pa.array(stream_list, pa.string())}))
            conds.append("stream_id IN (SELECT stream_id FROM _ek_streams)")
        where = " WHERE " + " AND ".join(conds) if conds else ""
        relation = f"(SELECT {', '.join(cols)} FROM events{where})"
        if extra_where:
            relation = f"(SELECT * FROM {relation} WHERE {extra_where})"
        try:
            yield Source(con=con, schema=schema, relation=relation, store=store, personal=personal)
        except duckdb.ConversionException as e:
            raise _too_large(e) from None
    finally:
        con.close()


def _too_large(error: duckdb.ConversionException) -> Exception:
    """An integer total past 64 bits (sums of amounts near 2**63) as an InvalidFold naming it."""
    first = str(error).splitlines()[0]
    # Summing BIGINTs gives INT128 (locally: "... out of range for ... INT64"); combining Dask partial sums
    # gives DECIMAL ("Failed to cast decimal value ... to type INT64").
    if "INT64" not in first or not ("out of range" in first or "Failed to cast decimal value" in first):
        return error
    return InvalidFold(f"an integer total does not fit in 64-bit integers ({first.removeprefix('Conversion Error: ')}); "
                       "fold fewer streams or events, or store the amounts as floats (a new field)")


_INLINE_STREAMS = 1_000


def _connect(store: Any, known: Any, stream_type: str | None,
             stream_list: list[str] | None) -> duckdb.DuckDBPyConnection:
    """A connection on the store cut at ``known``, pruned to the segments the fold can need."""
    snapshot = getattr(store, "snapshot", None)
    if snapshot is None:  # any object with connect(known_at=) will do (tests use a frame double)
        return store.connect(known_at=known)
    prune: dict[str, Any] = {}
    if stream_type is not None:
        prune["stream_types"] = [stream_type]
    if stream_list is not None and len(stream_list) == 1:
        prune["stream_id"] = stream_list[0]
    return snapshot(known_at=known, **prune).connect()


def _ts(t: _dt.datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def checked_stream_ids(streams: Any) -> list[str] | None:
    if streams is None:
        return None
    if isinstance(streams, str):
        return [streams]
    out = list(streams)
    bad = [s for s in out if not isinstance(s, str)]
    if bad:
        raise InvalidFold("streams= must be stream ids (strings)", column="stream_id", values=bad)
    return out


def check_where(source: Source, leaves: Iterable[Leaf]) -> None:
    """Bind every ``where=`` condition against the store's schema, before any scan."""
    for where in {leaf.where for leaf in leaves if leaf.where is not None}:
        try:
            # Bound where it is used, as a FILTER: a closing parenthesis, a comment or an aggregate
            # that a bare SELECT accepts fails here, not in the fold's query.
            source.con.sql(f"SELECT count(*) FILTER (WHERE ({where})::BOOLEAN) AS n "
                           f"FROM (SELECT * FROM {source.relation} LIMIT 0)")
        except duckdb.Error as e:
            fields = sorted(source.schema.payload) + list(source.schema.envelope)
            raise InvalidFold(f"where={where!r} is not a valid condition on the events "
                              f"(fields: {fields}): {str(e).splitlines()[0]}") from None
