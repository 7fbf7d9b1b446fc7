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

from typing import TYPE_CHECKING, Any, Mapping

from eventkit.common.errors import InvalidFold
from eventkit.fold.erasure import with_erased
from eventkit.fold.series import DEFAULT_MAX_ROWS
from eventkit.common.sql import quote_ident
from eventkit.fold.reducers import Reducer, Schema, unique_leaves
from eventkit.fold.sources import Source, check_where, open_source

if TYPE_CHECKING:
    import pandas as pd

Streams = "str | Iterable[str] | None"


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
        fields = with_erased(self.fields, source)
        leaves = unique_leaves(fields.values())
        aggs, names = [], {}
        for i, leaf in enumerate(leaves):
            partial = leaf.partials(schema, leaf.condition(schema))[0]
            aggs.append(f"{partial} AS _l{i}")
            names[leaf] = leaf.finish(f"_l{i}", schema)
        outs = [f"{red.final_sql(names)} AS {quote_ident(k)}" for k, red in fields.items()]
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
              streams: Any = None, use_snapshot: bool = True, scheduler: Any = None) -> pd.DataFrame:
        """The state of every stream (one row each), folded in version order.

        Args:
            store: The event store.
            as_of: Valid time: fold only events with ``occurred_at <= as_of``.
            known_at: Transaction time: what the store knew at this time or position.
            streams: Limit to one stream id or a list of them.
            use_snapshot: Start from the newest valid state saved by :meth:`save_snapshot`
                and fold only newer events (same answer, less work).
            scheduler: A ``dask.distributed.Client``: fold groups of segments on its workers and
                combine the partial states there (same answer; saved states are not used). See
                :mod:`eventkit.fold.distributed`.

        Returns:
            DataFrame with ``stream_id``, the fold's fields, ``version`` and ``position`` of the
            last folded event; streams with no event in the cut are absent. Sorted by stream_id.

        Raises:
            InvalidFold: Unknown field, type mismatch, bad ``where=``, unknown time format.

        Example:
            >>> f.state(store, as_of="2024-01-31", known_at="2024-02-01")   # doctest: +SKIP
        """
        if scheduler is not None:
            from eventkit.fold.distributed import fold_state

            return fold_state(self, store, scheduler=scheduler, as_of=as_of, known_at=known_at, streams=streams)
        if use_snapshot:
            from eventkit.fold.persisted import saved_state_for, state_from_saved

            saved = saved_state_for(self, store, as_of=as_of, known_at=known_at)
            if saved is not None:
                return state_from_saved(self, store, saved, as_of=as_of, known_at=known_at, streams=streams)
        with open_source(store, stream_type=self.stream_type, as_of=as_of,
                         known_at=known_at, streams=streams) as src:
            self.prepare(src)
            # execute, not sql(): a relation binds the query again when it runs (a bind reads the
            # segments' footers).
            return src.con.execute(self.state_sql(src)).df()

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
                  max_rows: int | None = DEFAULT_MAX_ROWS, dense: bool | None = None,
                  scheduler: Any = None) -> pd.DataFrame:
        """The state of every stream at every point of a grid: the dense series, in one pass.

        Row ``(as_of, stream_id)`` equals ``state(as_of=as_of)`` for that stream (bounds
        inclusive); every stream that exists at a point (its first event at or before it) has a
        row there, filled forward. So what one naturally does with it is right: ``s.groupby(
        "as_of")["balance"].sum()``, ``s.merge(lookup, on="stream_id").groupby([...])``, a chart
        by stream. See :mod:`eventkit.fold.series`. pandas sums integers with wrap-around past
        64 bits: the series warns (``ek.EventKitWarning``) when a total at one point can get there.

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
            scheduler: A ``dask.distributed.Client``: compute the bucket partials per group of
                segments on its workers (see :mod:`eventkit.fold.distributed`).

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
                                as_of=as_of, known_at=known_at, tz=tz, scheduler=scheduler)
        if scheduler is not None:
            from eventkit.fold.distributed import fold_series

            return fold_series(self, store, scheduler=scheduler, kind="dense", every=every, start=start, end=end,
                               streams=streams, as_of=as_of, known_at=known_at, tz=tz, max_rows=max_rows)
        return declarative_snapshots(self, store, every=every, start=start, end=end, streams=streams,
                                     as_of=as_of, known_at=known_at, tz=tz, max_rows=max_rows)

    def changes(self, store: Any, *, every: str | int = "1D", start: Any = None, end: Any = None,
                streams: Any = None, as_of: Any = None, known_at: Any = None,
                tz: str = "UTC", scheduler: Any = None) -> pd.DataFrame:
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

        if scheduler is not None:  # a dask.distributed.Client, as for snapshots()
            from eventkit.fold.distributed import fold_series

            return fold_series(self, store, scheduler=scheduler, kind="changes", every=every, start=start, end=end,
                               streams=streams, as_of=as_of, known_at=known_at, tz=tz, max_rows=None)
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
