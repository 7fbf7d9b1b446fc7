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

from eventkit.common.errors import InvalidFold
from eventkit.fold.series import DEFAULT_MAX_ROWS
from eventkit.fold.reducers import ENVELOPE_FIELDS, Leaf, Reducer, Schema, _lit, _quote, unique_leaves
from eventkit.common.timeparse import parse_as_of, parse_known_at

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
        fields: Output column name -> reducer (see :mod:`eventkit.fold.reducers`).

    Raises:
        InvalidFold: A field name collides with an output column (``stream_id``, ``version``,
            ``position``, ``as_of``, ``changed_at``, ``complete``) or a value is not a reducer.

    Example:
        >>> f = Fold("account", stream_type="account", fields={
        ...     "balance": ek.sum("amount"), "deposits": ek.count(event_types="Deposited")})
        >>> f.state(store)                                           # doctest: +SKIP
          stream_id  balance  deposits  version  position
        0    acct-1       40         2        3         7
    """

    RESERVED = ("stream_id", "version", "position", "as_of", "changed_at", "complete", "at")

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
        from eventkit.fold.selectors import check_fold_selectors

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
            from eventkit.fold.persisted import saved_state_for, state_from_saved

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
        (or under different upcasters) is never used. See :mod:`eventkit.fold.persisted`.

        Example:
            >>> account.save_snapshot(store).position            # doctest: +SKIP
            108661
        """
        from eventkit.fold.persisted import save_state

        return save_state(self, store, known_at=known_at)

    def snapshots(self, store: Any, *, every: str | int = "1D", start: Any = None, end: Any = None,
                  streams: Any = None, as_of: Any = None, known_at: Any = None, tz: str = "UTC",
                  max_rows: int | None = DEFAULT_MAX_ROWS, dense: bool | None = None) -> pd.DataFrame:
        """The state of every stream at every point of a grid: the dense series, in one pass.

        Row ``(as_of, stream_id)`` equals ``state(as_of=as_of)`` for that stream (bounds
        inclusive); every stream that exists at a point (its first event at or before it) has a
        row there, filled forward. So what one naturally does with it is right: ``s.groupby(
        "as_of")["balance"].sum()``, ``s.merge(lookup, on="stream_id").groupby([...])``, a chart
        by stream. See :mod:`eventkit.fold.series`.

        A dense series costs streams x points rows whatever the events (100,000 accounts daily
        for a year: 24 million rows). Its size is counted first (one aggregate, nothing built);
        past ``max_rows`` it raises :class:`SeriesTooLarge` saying what to do instead — most
        often :meth:`aggregate`, which computes totals per point without the series.

        Args:
            store: The event store.
            every: ``"1D"``, ``"6h"``, ``"1W"`` (Mondays), ``"1MS"``, ``"QS"``, ``"YS"``, a
                timedelta, or an int N (every N positions; ``as_of`` is then a position).
            start: The first point (events before it count in it); default: where data begins.
            end: The last point; default: the first point covering the last event.
            streams: Limit to one stream id or a list of them.
            as_of: Valid-time cut; also the grid's end.
            known_at: Transaction-time cut.
            tz: The calendar's time zone: days, weeks and months start at local midnight, naive
                times are local, ``as_of`` comes back in this zone.
            max_rows: The most rows to build (None: no limit).
            dense: Deprecated (the series is always dense; use :meth:`changes` for changes).

        Returns:
            DataFrame ``as_of, stream_id, <fields>, version, position, complete``, sorted by
            ``as_of`` then ``stream_id``; ``complete`` is False at points the store's knowledge
            has not reached (after now or ``known_at``: a live store's last, partial period).

        Raises:
            SeriesTooLarge: More than ``max_rows`` rows.
            InvalidFold: A bad step, time, zone or field.

        Example:
            >>> daily = f.snapshots(store, every="1D", start="2024-01-01")      # doctest: +SKIP
            >>> daily.groupby("as_of")["balance"].sum()                          # doctest: +SKIP
        """
        from eventkit.fold.series import warn_dense_deprecated, declarative_snapshots

        warn_dense_deprecated(dense)
        if dense is False:
            return self.changes(store, every=every, start=start, end=end, streams=streams,
                                as_of=as_of, known_at=known_at, tz=tz)
        return declarative_snapshots(self, store, every=every, start=start, end=end, streams=streams,
                                     as_of=as_of, known_at=known_at, tz=tz, max_rows=max_rows)

    def changes(self, store: Any, *, every: str | int = "1D", start: Any = None, end: Any = None,
                streams: Any = None, as_of: Any = None, known_at: Any = None,
                tz: str = "UTC") -> pd.DataFrame:
        """The change log of the series: a row only where a stream had events since the previous point.

        Same grid and meaning as :meth:`snapshots`, but a stream's state at the points in
        between is its latest row before them. It is the compact form (rows ~ changes, not
        streams x points), for exports and for replaying; it is **not** a series to total per
        point — summing it per point would miss the streams that did not change. Its time
        column is therefore ``changed_at``: code written for the series (``groupby("as_of")``,
        :func:`eventkit.aggregate`) fails on it instead of giving wrong totals.

        Returns:
            DataFrame ``changed_at, stream_id, <fields>, version, position``.

        Example:
            >>> f.changes(store, every="1D").head()                             # doctest: +SKIP
        """
        from eventkit.fold.series import declarative_changes

        return declarative_changes(self, store, every=every, start=start, end=end, streams=streams,
                                   as_of=as_of, known_at=known_at, tz=tz)

    def aggregate(self, store: Any, *, every: str | int = "1D", values: Any = None, by: Any = None,
                  start: Any = None, end: Any = None, streams: Any = None, as_of: Any = None,
                  known_at: Any = None, tz: str = "UTC") -> pd.DataFrame:
        """Totals per point across streams, without building the series (see :mod:`._totals`).

        The result equals grouping :meth:`snapshots` by ``as_of`` (and ``by``) — a stream counts
        at every point from its first event on — but is computed in DuckDB from the changes:
        sums, counts and means of additive fields (sums and counts of events) as running sums
        of the events' contributions, a ``by`` state (a status) as +1/-1 transitions; min,
        max, median and count_distinct from the dense series inside DuckDB.

        Args:
            store: The event store.
            every, start, end, streams, as_of, known_at, tz: As for :meth:`snapshots`.
            values: Output column -> function (``{"balance": "sum"}``) or -> (field, function)
                (``{"avg_balance": ("balance", "mean")}``); functions: sum, count, mean, min,
                max, median, count_distinct. ``("stream_id", "count")`` counts streams. Default:
                none (the ``streams`` column only).
            by: A field (or several) to group by at each point, e.g. ``"status"``.

        Returns:
            DataFrame ``as_of, <by>, streams, <values>, complete``: one row per point (and
            group present at it), sorted; ``streams`` is the number of streams in the group.

        Raises:
            InvalidFold: An unknown field or function, or sum/mean of a non-number.

        Example:
            >>> f.aggregate(store, every="1D", values={"balance": "sum"})              # doctest: +SKIP
            >>> f.aggregate(store, every="1D", by="status")                            # doctest: +SKIP
        """
        from eventkit.fold.totals import fold_aggregate

        return fold_aggregate(self, store, every=every, values=values, by=by, start=start, end=end,
                              streams=streams, as_of=as_of, known_at=known_at, tz=tz)
