"""What-if replays: the store's events with edits, folded side by side with the baseline.

A :class:`Scenario` is an immutable description of edits to one cut of the store: drop events, add
hypothetical ones, change payload fields, shift events in time, replace a stream's history. Its
:meth:`~Scenario.connect` returns a DuckDB connection whose ``events`` view holds the scenario's
events with the store's columns and types, so every fold (declarative or Python) runs on it
unchanged. The edits are SQL views over the store's snapshot: nothing is copied, and a scenario
never writes to the store.

Fold order inside a scenario (see :mod:`eventkit.analysis.scenario_sql` for the SQL):

- ``drop`` and ``change`` keep every other event's version (a dropped event leaves a gap).
- ``add``, ``shift`` and ``replace_stream`` *place* events by time. A stream with a placed event
  is renumbered 1..n: its other events keep their relative order, and a placed event folds right
  after the last of them with ``occurred_at <=`` its own (placed events among themselves: by
  ``occurred_at``, then in the order they were added). An added event with an explicit ``version``
  takes that slot instead (it folds before the stream's event that had that version).
- Hypothetical events get positions after the store's head (in the order added); a renumbered
  stream hands its positions out again in the new order, so positions stay unique and increase
  with version within every stream. Their ``recorded_at`` is NULL: nothing recorded them.

Time cuts: the scenario's ``known_at`` (default: the store's head when the scenario is made, so a
scenario is repeatable while the store grows) and a fold's ``known_at`` cut the *store's* events;
hypothetical events are always present. The scenario's ``as_of`` cuts its final events (after the
edits: an event shifted past ``as_of`` leaves the scenario).

Example:
    >>> import eventkit as ek
    >>> from eventkit.analysis.whatif import Scenario
    >>> scn = (Scenario(store, name="no fees")                        # doctest: +SKIP
    ...        .drop(event_types=["FeeCharged"])
    ...        .change(set={"amount": "amount * 1.1"}, event_types=["Deposited"]))
    >>> scn.compare(balance)                                          # doctest: +SKIP
      stream_id  balance_baseline  balance_scenario  balance_diff
    0    acct-1             100.0             118.0          18.0
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.analysis import scenario_sql as S
from eventkit.store.batches import arrow_batch_from_frame
from eventkit.analysis.compare import state_diff
from eventkit.store.envelope import (
    DEFAULT_STREAM_TYPE,
    arrow_type_for,
    check_field_name,
    reconcile,
    to_micros,
)
from eventkit.common.errors import EventKitWarning, InvalidInput, StoreError
from eventkit.common.timeparse import parse_as_of, parse_known_at

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from eventkit.store.event_store import Store

_ID_NAMESPACE = uuid.UUID("5d2c3f0e-7f57-4c55-9a8e-0f3a2b1c9e11")
_BASELINE = "baseline"
_OUTPUT_COLUMNS = ("stream_id", "version", "position", "as_of", "complete")


class NoMatch(EventKitWarning):
    """A scenario's selector names a stream or event type that none of its events has."""


@dataclasses.dataclass(frozen=True)
class _Base:
    """The pinned cut a scenario edits: what ``store.connect`` gives, at a fixed head."""

    store: Any
    known_at: Any  # the parsed cut handed to store.connect
    head: int  # positions above it belong to hypothetical events
    as_of: _dt.datetime | None
    fields: tuple[tuple[str, str], ...]  # the payload schema of the store's view


class Scenario:
    """The store's events with edits, for what-if replays. Every method returns a new Scenario.

    Args:
        store: An :class:`eventkit.Store` (or anything with ``connect(known_at=)`` giving an
            ``events`` view).
        name: The scenario's name (the ``scenario`` column of :meth:`compare_snapshots`).
        as_of: Valid-time cut applied to the scenario's final events.
        known_at: Transaction-time cut of the store's events; default: the store's head now.

    Raises:
        InvalidFold: ``as_of``/``known_at`` is not a point in time.
        InvalidInput: The name is empty or ``"baseline"``.

    Example:
        >>> scn = ek.Scenario(store, name="no fees").drop(event_types="FeeCharged")  # doctest: +SKIP
        >>> balance.state(scn)                                                      # doctest: +SKIP
    """

    def __init__(self, store: Any, *, name: str = "scenario", as_of: Any = None,
                 known_at: Any = None) -> None:
        if not isinstance(name, str) or not name or name == _BASELINE:
            raise InvalidInput(f"a scenario's name must be a non-empty string other than {_BASELINE!r}",
                               column="name", values=[name])
        if not callable(getattr(store, "connect", None)):
            raise InvalidInput(f"Scenario needs an event store (with .connect()), not a {type(store).__name__}")
        as_of_t = parse_as_of(as_of)
        known = parse_known_at(known_at)
        con = store.connect(known_at=known)
        try:
            head = getattr(store, "head", None)
            if not isinstance(head, int):
                head = int(con.sql("SELECT coalesce(max(position), 0) FROM events").fetchall()[0][0])
            rel = con.sql("SELECT data FROM events LIMIT 0")
            dtype = rel.types[0]
            fields = tuple((n, S.kind_of(str(t))) for n, t in dtype.children) if dtype.id == "struct" else ()
        finally:
            con.close()
        self.name = name
        self.as_of = as_of
        self.known_at = known_at
        self._base = _Base(store, head if known is None else known, head, as_of_t, fields)
        self._ops: tuple[S.Op, ...] = ()
        self._stream_types: dict[str, str] = {}
        self._next_position = head + 1

    # -- builder ------------------------------------------------------------------------------

    def _derive(self, *ops: S.Op, stream_types: dict[str, str] | None = None, added: int = 0) -> Scenario:
        new = object.__new__(Scenario)
        new.__dict__.update(self.__dict__)
        new._ops = self._ops + ops
        new._stream_types = {**self._stream_types, **(stream_types or {})}
        new._next_position = self._next_position + added
        return new

    @property
    def fields(self) -> dict[str, str]:
        """The scenario's payload schema: field -> type (the store's plus what edits added)."""
        return dict(self._ops[-1].fields if self._ops else self._base.fields)

    @property
    def store(self) -> Any:
        return self._base.store

    @property
    def baseline(self) -> Scenario:
        """The same cut of the store with no edits: what :meth:`compare` compares against."""
        new = self._derive()
        new._ops, new._stream_types, new._next_position = (), {}, self._base.head + 1
        new.name = _BASELINE
        return new

    @property
    def edits(self) -> list[str]:
        """A description of each edit, in order."""
        return [op.label for op in self._ops]

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, {self.store!r}, edits={self.edits})"

    def _selector(self, *, event_types: Any, streams: Any, between: Any, where: str | None) -> str | None:
        cond = S.selector(event_types=event_types, streams=streams, between=between, where=where,
                          to_micros=to_micros)
        if where is not None:
            S.check_condition(where, self.fields)
        self._warn_missing("stream_id", streams)
        self._warn_missing("event_type", event_types)
        return cond

    def _warn_missing(self, column: str, values: Any) -> None:
        """Warn (:class:`NoMatch`) about selector values no event of the scenario carries.

        A selector naming a stream or event type that is not there matches nothing, so the edit
        silently does nothing: almost always a typo. The message names each missing value and the
        closest existing one.
        """
        if values is None:
            return
        wanted = [values] if isinstance(values, str) else list(values)
        added = {str(v) for op in self._ops if op.table is not None
                 for v in op.table.column(column).to_pylist()}
        ask = sorted({v for v in wanted if v not in added})
        if not ask:
            return
        con = self._base.store.connect(known_at=self._base.known_at)
        try:
            con.register("_ek_wanted", pa.table({"v": pa.array(ask, pa.string())}))
            found = {r[0] for r in con.sql(
                f"SELECT DISTINCT {column} FROM events WHERE position <= {self._base.head} "
                f"AND {column} IN (SELECT v FROM _ek_wanted)").fetchall()}
            missing = [v for v in ask if v not in found]
            hints = []
            for v in missing[:5]:
                # The closest existing value by Jaro-Winkler similarity, computed in DuckDB so a
                # store of 100,000 streams is not pulled into Python for a suggestion.
                row = con.sql(
                    f"SELECT {column} FROM (SELECT DISTINCT {column} FROM events WHERE position <= "
                    f"{self._base.head}) ORDER BY jaro_winkler_similarity({column}, $v) DESC, {column} "
                    "LIMIT 1", params={"v": v}).fetchall()
                near = row[0][0] if row else None
                if near is None and added:
                    near = sorted(added)[0]
                hints.append(f"{v!r}" + (f" (closest: {near!r})" if near is not None else ""))
        finally:
            con.close()
        if missing:
            what = "streams" if column == "stream_id" else "event types"
            warnings.warn(f"scenario {self.name!r}: no event has {column} " + ", ".join(hints)
                          + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                          + f"; the selector matches none of these {what}", NoMatch, stacklevel=4)

    def drop(self, *, event_types: Any = None, streams: Any = None, between: Any = None,
             where: str | None = None) -> Scenario:
        """Drop the events matching every given selector.

        Args:
            event_types: One event type or several.
            streams: One stream id or several.
            between: ``(start, end)`` on ``occurred_at``, start inclusive, end exclusive; either None.
            where: An SQL condition over payload fields and envelope columns, e.g. ``"amount > 100"``.

        Raises:
            InvalidInput: No selector given, or ``where`` names a field the events lack.

        Example:
            >>> scn.drop(event_types="FeeCharged", between=("2024-01-01", None))  # doctest: +SKIP
        """
        if event_types is None and streams is None and between is None and where is None:
            raise InvalidInput("drop() needs at least one of event_types=, streams=, between=, where=")
        cond = self._selector(event_types=event_types, streams=streams, between=between, where=where)
        label = _describe("drop", event_types=event_types, streams=streams, between=between, where=where)
        return self._derive(S.Op("drop", label, tuple(self.fields.items()), cond=cond))

    def change(self, *, set: dict[str, str], event_types: Any = None, streams: Any = None,
               between: Any = None, where: str | None = None) -> Scenario:
        """Set payload fields of the matching events from SQL expressions.

        Expressions see the event's values before this change (all fields change at once). A
        result that is a float for an integer field widens the field to DOUBLE everywhere.

        Args:
            set: Field -> SQL expression, e.g. ``{"amount": "amount * 1.1"}``.
            event_types, streams, between, where: Which events (as in :meth:`drop`); default: all.

        Raises:
            InvalidInput: A field the events lack, an invalid expression, or a type that cannot
                be stored in the field.

        Example:
            >>> scn.change(set={"amount": "amount * 1.1"}, event_types=["Deposited"])  # doctest: +SKIP
        """
        if not isinstance(set, dict) or not set:
            raise InvalidInput("change() needs set={field: sql_expression, ...}", column="set", values=[set])
        fields = self.fields
        out = dict(fields)
        for name, expr in set.items():
            if name in S.ENVELOPE or name == "data":
                raise InvalidInput(f"change() sets payload fields; {name!r} is an envelope column "
                                   "(use shift() to move occurred_at)", column=str(name))
            if name not in fields:
                raise InvalidInput(f"change(set=...) names field {name!r}, which the events do not have; "
                                   f"payload fields: {sorted(fields)}", column=str(name))
            kind = S.expression_kind(expr, fields, what=f"set[{name!r}]")
            out[name] = reconcile(name, out[name], kind, values=[expr]) if kind != "NULL" else out[name]
        cond = self._selector(event_types=event_types, streams=streams, between=between, where=where)
        label = _describe("change", set=set, event_types=event_types, streams=streams, between=between,
                          where=where)
        return self._derive(S.Op("change", label, tuple(out.items()), cond=cond,
                                 assign=tuple((k, v) for k, v in set.items())))

    def shift(self, *, by: Any, event_types: Any = None, streams: Any = None, between: Any = None,
              where: str | None = None) -> Scenario:
        """Move the matching events in valid time (``occurred_at``); they fold at their new time.

        Args:
            by: A fixed duration: ``"7D"``, ``"-3h"``, ``"90min"``, a timedelta.
            event_types, streams, between, where: Which events (as in :meth:`drop`); default: all.

        Raises:
            InvalidInput: ``by`` is not a fixed duration (month offsets like ``"1MS"`` are not).

        Example:
            >>> scn.shift(by="7D", event_types="Withdrawn")                  # doctest: +SKIP
        """
        us = _duration_us(by)
        cond = self._selector(event_types=event_types, streams=streams, between=between, where=where)
        label = _describe("shift", by=by, event_types=event_types, streams=streams, between=between,
                          where=where)
        return self._derive(S.Op("shift", label, tuple(self.fields.items()), cond=cond, shift_us=us))

    def add(self, frame: Any) -> Scenario:
        """Add hypothetical events from a flat frame, as ``store.append_frame`` takes it.

        Columns: ``stream_id``, ``event_type``, ``occurred_at`` (required: hypothetical events fold
        by it), ``stream_type``, ``event_id``, ``version``, ``metadata`` (optional), and payload
        fields. Without ``version`` an event folds by its ``occurred_at`` among its stream's
        events; with one it takes that slot (see the module docs).

        Raises:
            InvalidInput: The same errors as ``append_frame`` (missing columns, bad values), a
                missing ``occurred_at``, or a stream type that contradicts the stream's.
            SchemaConflict: A payload type that cannot be reconciled with the store's.

        Example:
            >>> scn.add(pd.DataFrame({"stream_id": ["acct-1"], "event_type": ["Deposited"],
            ...                       "occurred_at": ["2024-03-01"], "amount": [50]}))  # doctest: +SKIP
        """
        op, types, n = self._add_op(frame, label=None)
        return self._derive(op, stream_types=types, added=n)

    def replace_stream(self, stream_id: str, frame: Any) -> Scenario:
        """Replace one stream's history by the events of ``frame`` (an empty frame drops it).

        ``frame`` is as for :meth:`add`; its ``stream_id`` column may be left out (or must hold
        only ``stream_id``). The new events fold by ``occurred_at``.

        Example:
            >>> scn.replace_stream("acct-00042", history)                    # doctest: +SKIP
        """
        if not isinstance(stream_id, str) or not stream_id:
            raise InvalidInput("replace_stream() needs a stream id (a non-empty string)", column="stream_id",
                               values=[stream_id])
        table = _as_table(frame)
        label = f"replace_stream({stream_id!r}, {table.num_rows} events)"
        if "stream_id" in table.column_names:
            sids = pc.unique(table.column("stream_id")).to_pylist()
            if any(s != stream_id for s in sids):
                raise InvalidInput(f"replace_stream({stream_id!r}): the frame's stream_id column holds other "
                                   "streams", column="stream_id", values=[s for s in sids if s != stream_id])
        elif table.num_rows:
            table = table.append_column("stream_id", pa.array([stream_id] * table.num_rows, pa.string()))
        drop = S.Op("drop", label, tuple(self.fields.items()), cond=f"stream_id = {S.lit(stream_id)}")
        if not table.num_rows:
            return self._derive(drop)
        op, types, n = self._add_op(table, label=label, placed=True)
        return self._derive(drop, op, stream_types=types, added=n)

    def _add_op(self, frame: Any, *, label: str | None, placed: bool = False) -> tuple[S.Op, dict[str, str], int]:
        batch = arrow_batch_from_frame(_as_table(frame) if not _is_pandas(frame) else frame)
        t = batch.table
        n = t.num_rows
        if "occurred_at" not in t.column_names or t.column("occurred_at").null_count:
            raise InvalidInput("hypothetical events need an occurred_at (they fold by it); the frame has "
                               "none or some are null", column="occurred_at")
        fields = dict(self.fields)
        for name in batch.payload:
            check_field_name(name)
            kind, samples = batch.field_types[name]
            fields[name] = reconcile(name, fields.get(name), kind, values=samples)
        cols: dict[str, pa.Array] = {
            "position": pa.array(range(self._next_position, self._next_position + n), pa.int64())}
        sids = t.column("stream_id").to_pylist()
        cols["stream_id"] = pa.array(sids, pa.string())
        types = self._stream_types_for(sids, t.column("stream_type").to_pylist() if "stream_type" in t.column_names else None)
        cols["stream_type"] = pa.array([types[s] for s in sids], pa.string())
        if batch.has_versions and not placed:
            cols["version"] = t.column("version")
        else:
            cols["version"] = pa.nulls(n, pa.int64())
        cols["event_type"] = t.column("event_type")
        occurred = t.column("occurred_at")
        ids = t.column("event_id").to_pylist() if "event_id" in t.column_names else [None] * n
        etypes = t.column("event_type").to_pylist()
        times = occurred.to_pylist()
        cols["event_id"] = pa.array([
            i if i is not None else str(uuid.uuid5(_ID_NAMESPACE, f"{p}:{s}:{e}:{o.isoformat()}"))
            for i, p, s, e, o in zip(ids, cols["position"].to_pylist(), sids, etypes, times)], pa.string())
        cols["occurred_at"] = occurred
        cols["metadata"] = t.column("metadata") if "metadata" in t.column_names else pa.nulls(n, pa.string())
        for name in batch.payload:
            cols[name] = t.column(name).cast(arrow_type_for(fields[name]))
        table = pa.table(cols)
        if label is None:
            label = f"add({n} events: {', '.join(sorted(set(etypes))[:5])})"
        return S.Op("add", label, tuple(fields.items()), table=table), types, n

    def _stream_types_for(self, sids: list[str], given: list[str | None] | None) -> dict[str, str]:
        """Each stream's type: the store's, an earlier add's, the frame's, or the default."""
        wanted: dict[str, set] = {s: set() for s in sids}
        for s, g in zip(sids, given or [None] * len(sids)):
            if g is not None:
                wanted[s].add(g)
        known = dict(self._stream_types)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            con = self._base.store.connect(known_at=self._base.known_at)
            try:
                con.register("_ek_ids", pa.table({"stream_id": pa.array(unknown, pa.string())}))
                rows = con.sql("SELECT stream_id, any_value(stream_type) FROM events WHERE stream_id IN "
                               f"(SELECT stream_id FROM _ek_ids) AND position <= {self._base.head} "
                               "GROUP BY 1").fetchall()
            finally:
                con.close()
            known.update(dict(rows))
        out = {}
        for s, want in wanted.items():
            if len(want) > 1:
                raise InvalidInput(f"stream {s!r} is given several stream types", column="stream_type",
                                   values=sorted(want))
            w = next(iter(want), None)
            if s in known and w is not None and w != known[s]:
                raise InvalidInput(f"stream {s!r} has stream_type {known[s]!r}; hypothetical events cannot "
                                   f"make it {w!r}", column="stream_type", values=[w])
            out[s] = known.get(s) or w or DEFAULT_STREAM_TYPE
        return out

    # -- reading ------------------------------------------------------------------------------

    def connect(self, known_at: Any = None) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection whose view ``events`` holds the scenario's events.

        Same columns and types as the store's view (payload types widened or fields added where
        edits demand it). ``known_at`` further cuts the store's events (not hypothetical ones).

        Example:
            >>> scn.connect().sql("SELECT count(*) FROM events").fetchall()   # doctest: +SKIP
        """
        base = self._base
        cut = None
        known = parse_known_at(known_at)
        if isinstance(known, int):
            cut = f"position <= {known}"
        elif known is not None:
            cut = f"recorded_at <= {S.ts_lit(known)}"
        con = base.store.connect(known_at=base.known_at)
        try:
            con.execute("SET TimeZone = 'UTC'")
            _rename_events(con)
            for i, op in enumerate(self._ops, start=1):
                if op.table is not None:
                    con.register(f"_ek_add{i}", op.table)
            for stmt in S.compile_views(base_fields=dict(base.fields), ops=self._ops, head=base.head,
                                        cut=cut, as_of=base.as_of):
                con.execute(stmt)
        except BaseException:
            con.close()
            raise
        return con

    def sql(self, query: str, *, params: Any = None) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the scenario's ``events`` (like ``Store.sql``)."""
        return self.connect().sql(query, params=params)

    def read_all(self) -> pd.DataFrame:
        """The scenario's events in position order with flat payload columns (small scenarios)."""
        flat = ", ".join(f"data.{S.q(f)} AS {S.q(f)}" for f in self.fields)
        con = self.connect()
        try:
            return con.sql(f"SELECT * EXCLUDE (data){', ' + flat if flat else ''} FROM events "
                           "ORDER BY position").df()
        finally:
            con.close()

    def changes(self) -> pd.DataFrame:
        """The events the scenario dropped, added, changed or shifted, for audit.

        Returns:
            One row per touched event: ``change`` (``dropped``, ``added``, ``changed``,
            ``shifted``, or several joined by commas), ``op`` (the edits that touched it), the
            envelope as in the scenario (a dropped event as it was when dropped),
            ``occurred_at_before`` for shifted events, and the flat payload fields.
        """
        con = self.connect()
        try:
            return con.sql(S.changes_sql(self.fields, self._base.as_of)).df()
        finally:
            con.close()

    # -- comparing ----------------------------------------------------------------------------

    def compare(self, fold: Any, *, as_of: Any = None, streams: Any = None) -> pd.DataFrame:
        """Fold baseline and scenario; the streams whose state differs, field by field.

        Args:
            fold: An ``ek.Fold`` or ``ek.PyFold``.
            as_of: Valid-time cut for both folds.
            streams: Limit to some streams.

        Returns:
            ``stream_id``, then for each fold field ``f``: ``f_baseline``, ``f_scenario`` and, for
            numeric fields, ``f_diff`` (scenario minus baseline). Only streams that differ (a
            stream on one side only differs); floats equal within 1e-9 relative count as equal.

        Example:
            >>> scn.compare(balance_fold)                                     # doctest: +SKIP
        """
        base = fold.state(self.baseline, as_of=as_of, streams=streams)
        scen = fold.state(self, as_of=as_of, streams=streams)
        return state_diff(base, scen, key="stream_id", ignore=_OUTPUT_COLUMNS)

    def compare_snapshots(self, fold: Any, *, every: Any = "1D", **kw: Any) -> pd.DataFrame:
        """Snapshot series of baseline and scenario in one long frame (a ``scenario`` column).

        Both halves are the dense series ``fold.snapshots`` returns, so grouping by ``scenario``
        and ``as_of`` and summing gives each side's true total at every point.

        Args:
            fold: An ``ek.Fold`` or ``ek.PyFold``.
            every, **kw: As for ``fold.snapshots`` (start, end, streams, as_of, tz, max_rows).

        Returns:
            ``scenario`` (``"baseline"`` or this scenario's name) then the snapshot columns.
            For totals per point without the per-stream rows: :meth:`compare_aggregate`.
        """
        import pandas as pd

        parts = []
        for label, src in ((_BASELINE, self.baseline), (self.name, self)):
            frame = fold.snapshots(src, every=every, **kw)
            frame.insert(0, "scenario", label)
            parts.append(frame)
        return pd.concat(parts, ignore_index=True)

    def compare_aggregate(self, fold: Any, *, every: Any = "1D", values: Any = None, by: Any = None,
                          **kw: Any) -> pd.DataFrame:
        """Totals per point for baseline and scenario in one long frame (a ``scenario`` column).

        Equal to grouping :meth:`compare_snapshots` by ``scenario``, ``as_of`` (and ``by``), but
        a declarative fold computes each side with ``fold.aggregate`` in DuckDB, without the
        per-stream series (a Python fold goes through its series).

        Args:
            fold: An ``ek.Fold`` or ``ek.PyFold``.
            every: The grid step, as for ``fold.snapshots``.
            values: Output column -> (field, function), as for ``fold.aggregate``; default: the
                sum of every numeric field.
            by: A field (or several) to group by at each point, e.g. ``"currency"``.
            **kw: start, end, streams, as_of, tz.

        Returns:
            ``scenario``, ``as_of``, the ``by`` columns, ``streams`` and the values, sorted.

        Example:
            >>> scn.compare_aggregate(account, every="1W", by="currency",
            ...                       values={"balance": ("balance", "sum")})  # doctest: +SKIP
        """
        import pandas as pd

        keys = [by] if isinstance(by, str) else list(by or [])
        parts = []
        for label, src in ((_BASELINE, self.baseline), (self.name, self)):
            if callable(getattr(fold, "aggregate", None)):
                if values is None:  # the fold's numeric fields, typed by an empty state
                    values = {f: (f, "sum") for f in _numeric(fold.state(src, streams=[])) if f not in keys}
                frame = fold.aggregate(src, every=every, values=values, by=by, **kw)
            else:
                from eventkit.analysis.trends import aggregate as group

                series = fold.snapshots(src, every=every, **kw)
                if values is None:
                    values = {f: (f, "sum") for f in _numeric(series) if f not in keys}
                frame = group(series, by=by, values=values)
            frame.insert(0, "scenario", label)
            parts.append(frame)
        return pd.concat(parts, ignore_index=True)

    def overlay(self, fold: Any, *, y: str, every: Any = "1D", title: str | None = None,
                unit: str | None = None, difference: bool = True, **kw: Any) -> Figure:
        """Chart field ``y`` summed over streams, baseline vs scenario, with the difference.

        Each side's total at every point counts every stream that exists then (not only those
        that changed). Keep to one unit: a sum of amounts in several currencies means nothing,
        so pass ``streams=`` (e.g. the accounts of one currency) when the streams' units differ.

        Args:
            fold: An ``ek.Fold`` or ``ek.PyFold``.
            y: The numeric field to total.
            every: The grid step.
            title, unit: As for :func:`eventkit.charts.overlay`.
            difference: Draw the panel of scenario minus baseline under the two lines.
            **kw: start, end, streams, as_of, tz (as for ``fold.snapshots``).

        Example:
            >>> scn.overlay(account, y="balance", every="1W", streams=usd_accounts, unit="USD")  # doctest: +SKIP
        """
        from eventkit.analysis.charts import overlay

        t = self.compare_aggregate(fold, every=every, values={y: (y, "sum")}, **kw)
        return overlay(t[t["scenario"] == _BASELINE], t[t["scenario"] == self.name], y=y,
                       labels=(_BASELINE, self.name), title=title, unit=unit, difference=difference,
                       tz=kw.get("tz"))

    # -- materialising ------------------------------------------------------------------------

    def materialize(self, path: Any, *, batch_rows: int = 250_000, **options: Any) -> Store:
        """Write the scenario's events into a new store at ``path`` and return it.

        Events keep their stream, type, event id, occurred_at, metadata, payload and version
        (gaps included); positions and recorded_at are the new store's. Appends go in batches
        (each atomic), in scenario position order.

        Raises:
            StoreError: ``path`` holds a store with events, or a folder that is not a store.
        """
        from eventkit.store.event_store import open_store

        target = open_store(path, **options)
        held = target.head
        if held:
            target.close()
            raise StoreError(f"{path} already holds a store with {held} events; materialize "
                             "writes only into a new or empty store")
        flat = ", ".join(f"data.{S.q(f)} AS {S.q(f)}" for f in self.fields)
        con = self.connect()
        try:
            reader = con.sql(
                "SELECT stream_id, stream_type, version, event_type, event_id, occurred_at, "
                f"to_json(metadata)::VARCHAR AS metadata{', ' + flat if flat else ''} FROM events "
                "ORDER BY position").to_arrow_reader(batch_rows)
            for batch in reader:
                if batch.num_rows:
                    target.append_frame(pa.Table.from_batches([batch]))
        finally:
            con.close()
        return target


# ---------------------------------------------------------------------------------------------

def _numeric(frame: pd.DataFrame) -> list[str]:
    """The numeric state columns of a fold's output (not its bookkeeping columns)."""
    import pandas as pd

    return [c for c in frame.columns if c not in _OUTPUT_COLUMNS and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _rename_events(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute(f"ALTER VIEW events RENAME TO {S.BASE}")
    except duckdb.Error:
        con.execute(f"ALTER TABLE events RENAME TO {S.BASE}")


def _is_pandas(frame: Any) -> bool:
    return type(frame).__module__.startswith("pandas")


def _as_table(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if _is_pandas(frame):
        if len(frame) == 0:
            return pa.table({c: pa.array([], pa.null()) for c in map(str, frame.columns)})
        from eventkit.store.batches import frame_to_arrow

        return frame_to_arrow(frame)
    raise InvalidInput(f"hypothetical events come as a pandas DataFrame or a pyarrow Table, not a "
                       f"{type(frame).__name__}")


_UNIT_US = {"W": 7 * 86_400_000_000, "D": 86_400_000_000, "d": 86_400_000_000, "days": 86_400_000_000,
            "day": 86_400_000_000, "h": 3_600_000_000, "H": 3_600_000_000, "hours": 3_600_000_000,
            "hour": 3_600_000_000, "min": 60_000_000, "minutes": 60_000_000, "s": 1_000_000,
            "seconds": 1_000_000, "ms": 1_000, "us": 1}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


def _duration_us(by: Any) -> int:
    """A fixed duration in microseconds: '7D', '-3h', '1D12h', '90min', a timedelta.

    Calendar units (months, years, 'MS') are refused: they have no fixed length.
    """
    bad = InvalidInput(f"by={by!r} is not a fixed duration: use e.g. '7D', '-3h', '90min', '1D12h' or a "
                       "timedelta (units W, D, h, min, s, ms, us; calendar offsets such as '1MS' or months "
                       "have no fixed length)", column="by", values=[by])
    if isinstance(by, _dt.timedelta):  # includes pandas Timedelta
        return (by.days * 86_400 + by.seconds) * 1_000_000 + by.microseconds
    if isinstance(by, np.timedelta64):
        return int(by.astype("timedelta64[us]").astype(np.int64))
    if not isinstance(by, str):
        raise bad
    text = by.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    total, pos = 0.0, 0
    for m in _PART.finditer(text):
        if m.start() != pos or m.group(2) not in _UNIT_US:
            raise bad
        total += float(m.group(1)) * _UNIT_US[m.group(2)]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        raise bad
    return sign * round(total)


def _describe(kind: str, **args: Any) -> str:
    shown = []
    for k, v in args.items():
        if v is None:
            continue
        if k == "set":
            shown += [f"{f}={e}" for f, e in v.items()]
        else:
            shown.append(f"{k}={v!r}")
    return f"{kind}({', '.join(shown)})"


__all__ = ["NoMatch", "Scenario"]
