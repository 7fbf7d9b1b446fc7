"""Declarative folds: reducers compiled to one DuckDB query over every stream.

Fold order. A stream's events fold in **version order** (which is position order within the
stream). ``occurred_at`` may disagree with it: an event recorded late can be backdated. Time
travel never reorders: ``as_of=T`` keeps the events with ``occurred_at <= T`` and folds *those*
in version order, so ``last("status", as_of=T)`` is the status of the highest-version event that
had happened by T. ``known_at=K`` keeps the events the store had recorded by K (``recorded_at <=
K``, or ``position <= K`` for an int) — it is a prefix of the log.

Example:
    >>> import eventkit as ek
    >>> account = ek.Fold("account", stream_type="account", fields={
    ...     "balance": ek.sum("amount", event_types=["Deposited"])
    ...                - ek.sum("amount", event_types=["Withdrawn"]),
    ...     "status": ek.last_event_type({"Opened": "open", "Closed": "closed"}),
    ... })
    >>> account.state(store, as_of="2024-06-30")                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

import duckdb

from eventkit._errors import InvalidFold
from eventkit._reducers import ENVELOPE_FIELDS, Leaf, Reducer, Schema, _lit, _quote, unique_leaves
from eventkit._timeparse import parse_as_of, parse_known_at

if TYPE_CHECKING:
    import pandas as pd

Streams = "str | Iterable[str] | None"


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
        elif name in ENVELOPE_FIELDS:
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
    stream_list = _stream_list(streams)
    con = _connect(store, known, stream_type, stream_list)
    try:
        # Our own connection: make TIMESTAMPTZ arithmetic and pandas output UTC whatever the host.
        con.execute("SET TimeZone = 'UTC'")
        schema = read_schema(con)
        cols = [_quote(c) for c in ENVELOPE_FIELDS if c in schema.envelope] + ["data"]
        cols += [f"data.{_quote(n)} AS {_quote(n)}" for n in schema.payload if n not in schema.envelope]
        conds = []
        if stream_type is not None:
            conds.append(f"stream_type = {_lit(stream_type)}")
        if as_of_t is not None:
            conds.append(f"occurred_at <= {_ts(as_of_t)}")
        if stream_list is not None and len(stream_list) <= _INLINE_STREAMS:
            # Constants reach the Parquet scan, whose row-group statistics (segments are sorted
            # by stream_id) then skip nearly everything: a one-stream fold reads a few row groups.
            conds.append("stream_id IN (" + ", ".join(_lit(s) for s in stream_list) + ")"
                         if stream_list else "FALSE")
        elif stream_list is not None:
            import pyarrow as pa

            con.register("_ek_streams", pa.table({"stream_id": pa.array(stream_list, pa.string())}))
            conds.append("stream_id IN (SELECT stream_id FROM _ek_streams)")
        where = " WHERE " + " AND ".join(conds) if conds else ""
        relation = f"(SELECT {', '.join(cols)} FROM events{where})"
        if extra_where:
            relation = f"(SELECT * FROM {relation} WHERE {extra_where})"
        yield Source(con=con, schema=schema, relation=relation, store=store)
    finally:
        con.close()


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


def _stream_list(streams: Any) -> list[str] | None:
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
            source.con.sql(f"SELECT ({where})::BOOLEAN FROM {source.relation} LIMIT 0")
        except duckdb.Error as e:
            fields = sorted(source.schema.payload) + list(source.schema.envelope)
            raise InvalidFold(f"where={where!r} is not a valid condition on the events "
                              f"(fields: {fields}): {str(e).splitlines()[0]}") from None


class Fold:
    """A declarative fold: named fields, each a reducer over the events of one stream.

    Args:
        name: A name for the fold (used in reports and snapshot fingerprints).
        stream_type: Fold only streams of this type (None: every stream).
        fields: Output column name -> reducer (see :mod:`eventkit._reducers`).

    Raises:
        InvalidFold: A field name collides with ``stream_id``/``version``/``position``/``at`` or a
            value is not a reducer.

    Example:
        >>> f = Fold("account", stream_type="account", fields={
        ...     "balance": ek.sum("amount"), "deposits": ek.count(event_types="Deposited")})
        >>> f.state(store)                                           # doctest: +SKIP
          stream_id  balance  deposits  version  position
        0    acct-1       40         2        3         7
    """

    RESERVED = ("stream_id", "version", "position", "at")

    def __init__(self, name: str, *, stream_type: str | None = None,
                 fields: Mapping[str, Reducer]) -> None:
        if not fields:
            raise InvalidFold(f"fold {name!r} needs at least one field")
        for key, red in fields.items():
            if not isinstance(red, Reducer):
                raise InvalidFold(f"fold {name!r}: field {key!r} is {red!r}, not a reducer (ek.sum(...), ...)")
            if key in self.RESERVED:
                raise InvalidFold(f"fold {name!r}: field name {key!r} is reserved for the output frame")
        self.name = name
        self.stream_type = stream_type
        self.fields: dict[str, Reducer] = dict(fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.fields.items())
        return f"Fold({self.name!r}, stream_type={self.stream_type!r}, fields={{{inner}}})"

    @property
    def fingerprint(self) -> str:
        """A stable digest of the definition: a changed fold has a different fingerprint."""
        import hashlib

        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    # -- compilation --------------------------------------------------------------------------
    def validate(self, schema: Schema) -> None:
        """Check field names and types against ``schema``; raise :class:`InvalidFold` if wrong."""
        for key, red in self.fields.items():
            try:
                red.sql_type(schema)
                for leaf in red.leaves():
                    leaf.condition(schema)
            except InvalidFold as e:
                raise InvalidFold(f"fold {self.name!r}, field {key!r}: {e}") from None

    def state_sql(self, source: Source) -> str:
        """The single aggregate query computing every stream's state from ``source``."""
        schema = source.schema
        leaves = unique_leaves(self.fields.values())
        aggs, names = [], {}
        for i, leaf in enumerate(leaves):
            partial = leaf.partials(schema, leaf.condition(schema))[0]
            aggs.append(f"{partial} AS _l{i}")
            names[leaf] = leaf.finish(f"_l{i}", schema)
        outs = [f"{red.final_sql(names)} AS {_quote(k)}" for k, red in self.fields.items()]
        return (
            f"SELECT stream_id, {', '.join(outs)}, version, position FROM ("
            f"SELECT stream_id, {', '.join(aggs)}, max(version) AS version, max(position) AS position "
            f"FROM {source.relation} GROUP BY stream_id) ORDER BY stream_id"
        )

    def prepare(self, source: Source) -> None:
        """Validate this fold against an open source (schema and ``where=`` conditions).

        Also warns (:class:`eventkit.EventKitWarning`) when the stream type or an event type the
        fold names is nowhere in the store, with the closest existing name.
        """
        self.validate(source.schema)
        check_where(source, unique_leaves(self.fields.values()))
        from eventkit._selectors import check_fold_selectors

        named = [(f"field {key!r}", t) for key, red in self.fields.items()
                 for leaf in red.leaves() for t in leaf.named_event_types()]
        check_fold_selectors(source.store, fold_name=self.name, stream_type=self.stream_type, event_types=named)

    # -- running ------------------------------------------------------------------------------
    def state(self, store: Any, *, as_of: Any = None, known_at: Any = None,
              streams: Any = None, use_snapshot: bool = True) -> pd.DataFrame:
        """The state of every stream (one row each), folded in version order.

        Args:
            store: The event store.
            as_of: Valid time: fold only events with ``occurred_at <= as_of``.
            known_at: Transaction time: what the store knew at this time or position.
            streams: Limit to one stream id or a list of them.
            use_snapshot: Start from the newest valid state saved by :meth:`save_snapshot`
                and fold only newer events (same answer, less work).

        Returns:
            DataFrame with ``stream_id``, the fold's fields, ``version`` and ``position`` of the
            last folded event; streams with no event in the cut are absent. Sorted by stream_id.

        Raises:
            InvalidFold: Unknown field, type mismatch, bad ``where=``, unknown time format.

        Example:
            >>> f.state(store, as_of="2024-01-31", known_at="2024-02-01")   # doctest: +SKIP
        """
        if use_snapshot:
            from ._persisted import saved_state_for, state_from_saved

            saved = saved_state_for(self, store, as_of=as_of, known_at=known_at)
            if saved is not None:
                return state_from_saved(self, store, saved, as_of=as_of, known_at=known_at, streams=streams)
        with open_source(store, stream_type=self.stream_type, as_of=as_of,
                         known_at=known_at, streams=streams) as src:
            self.prepare(src)
            return src.con.sql(self.state_sql(src)).df()

    def save_snapshot(self, store: Any, *, known_at: Any = None) -> Any:
        """Save this fold's state (every stream, up to ``known_at`` or now) in the store.

        Later :meth:`state` calls start from the newest saved state that is valid for their
        question and fold only newer events. A state saved by a different definition of the fold
        (or under different upcasters) is never used. See :mod:`eventkit._persisted`.

        Example:
            >>> account.save_snapshot(store).position            # doctest: +SKIP
            108661
        """
        from ._persisted import save_state

        return save_state(self, store, known_at=known_at)

    def snapshots(self, store: Any, *, every: str | int = "1D", start: Any = None, end: Any = None,
                  streams: Any = None, as_of: Any = None, known_at: Any = None,
                  dense: bool = False) -> pd.DataFrame:
        """State of every stream at many points in time, in one pass (see :mod:`._snapshots`).

        Row ``(at, stream_id)`` equals ``state(as_of=at)`` for that stream (bounds inclusive).

        By default the result is a **series of changes**: a stream has a row at a point only if
        it had events since the previous point (its state at any other point is its latest row
        before it). ``dense=True`` fills every stream forward to every point instead. Why changes
        by default: a dense series costs streams x points rows, not events — for the benchmark
        store (100,000 accounts opened through a year, daily points) 24 million rows, 36 s and
        12 GB at peak, against 6.5 million rows, 10 s and 3.5 GB for the changes (BENCHMARKS.md,
        "Folds"). :func:`eventkit.aggregate` accepts either form and fills changes forward
        itself (in DuckDB, without building the dense frame). Summing a column per ``at`` of the
        change series yourself would miss the streams that did not change: use ``aggregate``.

        Args:
            store: The event store.
            every: ``"1D"``, ``"6h"``, ``"1W"``, ``"1MS"``, ``"QS"``, ``"YS"``, a timedelta, or an
                int N (every N positions).
            start: The first point (events before it count in it); default: where data begins.
            end: The last point; default: the first point covering the last event.
            streams: Limit to one stream id or a list of them.
            as_of: Valid-time cut; also the grid's end.
            known_at: Transaction-time cut.
            dense: Fill every stream forward to every point (from its first event on).

        Returns:
            DataFrame ``at, stream_id, <fields>, version, position``, sorted by ``at`` then
            ``stream_id``; ``attrs["eventkit.snapshots"]`` records the grid and ``dense``.

        Example:
            >>> f.snapshots(store, every="1MS", start="2024-01-01")        # doctest: +SKIP
            >>> f.snapshots(store, every="1D", dense=True)                  # doctest: +SKIP
        """
        from eventkit._snapshots import declarative_snapshots

        return declarative_snapshots(self, store, every=every, start=start, end=end,
                                     streams=streams, as_of=as_of, known_at=known_at, dense=dense)
