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

This module holds the scenario and its edits; what a scenario gives back (its events, comparisons,
charts, a materialised store) is :mod:`.scenario_results`, its inputs' parsing :mod:`.scenario_inputs`.
May use :mod:`eventkit.common`, :mod:`eventkit.store` and the scenario modules of this layer.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
import warnings
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from eventkit.analysis import scenario_sql as S
from eventkit.analysis.scenario_inputs import as_table, describe_edit, duration_us, is_pandas
from eventkit.analysis.scenario_results import BASELINE, ScenarioResults
from eventkit.store.batches import arrow_batch_from_frame
from eventkit.store.envelope import (
    DEFAULT_STREAM_TYPE,
    arrow_type_for,
    check_field_name,
    reconcile,
    to_micros,
)
from eventkit.common.errors import EventKitWarning, InvalidInput
from eventkit.common.timeparse import parse_as_of, parse_known_at


_ID_NAMESPACE = uuid.UUID("5d2c3f0e-7f57-4c55-9a8e-0f3a2b1c9e11")


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


class Scenario(ScenarioResults):
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
        if not isinstance(name, str) or not name or name == BASELINE:
            raise InvalidInput(f"a scenario's name must be a non-empty string other than {BASELINE!r}",
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
        new.name = BASELINE
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
        label = describe_edit("drop", event_types=event_types, streams=streams, between=between, where=where)
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
        label = describe_edit("change", set=set, event_types=event_types, streams=streams, between=between,
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
            InvalidInput: ``by`` is not a fixed duration (month offsets like ``"1MS"`` are not), or it
                would move an event outside years 1-9999 in UTC (the times a store keeps: such a
                scenario could not be materialized).

        Example:
            >>> scn.shift(by="7D", event_types="Withdrawn")                  # doctest: +SKIP
        """
        us = duration_us(by)
        cond = self._selector(event_types=event_types, streams=streams, between=between, where=where)
        label = describe_edit("shift", by=by, event_types=event_types, streams=streams, between=between,
                          where=where)
        new = self._derive(S.Op("shift", label, tuple(self.fields.items()), cond=cond, shift_us=us))
        new._refuse_shift_out_of_range(cond, us, label)
        return new

    def _refuse_shift_out_of_range(self, cond: str | None, us: int, label: str) -> None:
        """Refuse this scenario's last edit, a shift by ``us`` of the live events matching ``cond``,
        when it moves one outside years 1-9999 in UTC (one aggregate over the events before it)."""
        before = f"_ek_s{len(self._ops) - 1}"
        con = self.connect()
        try:
            low, high, early, late = con.sql(
                f"SELECT epoch_us(min(occurred_at)), epoch_us(max(occurred_at)), arg_min(stream_id, occurred_at), "
                f"arg_max(stream_id, occurred_at) FROM {before} WHERE NOT _ek_dropped"
                + (f" AND {cond}" if cond else "")).fetchall()[0]
            if low is None or _TIME_MIN_US <= low + us and high + us <= _TIME_MAX_US:
                return
            past = high + us > _TIME_MAX_US
            edge = max(_TIME_MAX_US - us, -(2**63) + 1) if past else min(_TIME_MIN_US - us, 2**63 - 1)
            n = con.sql(f"SELECT count(*) FROM {before} WHERE NOT _ek_dropped" + (f" AND {cond}" if cond else "")
                        + f" AND epoch_us(occurred_at) {'>' if past else '<'} {edge}").fetchall()[0][0]
        finally:
            con.close()
        stream, at = (late, high) if past else (early, low)
        when = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=at)
        raise InvalidInput(
            f"{label} would move {n:,} event(s) {'past 9999-12-31' if past else 'before year 1'} (stream {stream!r}, "
            f"occurred_at {when.isoformat()}); eventkit keeps times within years 1-9999 in UTC: shift by less, "
            "or select fewer events (between=, streams=, where=)", column="occurred_at", values=[stream])

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
        table = as_table(frame)
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
        batch = arrow_batch_from_frame(as_table(frame) if not is_pandas(frame) else frame)
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


__all__ = ["NoMatch", "Scenario"]


_TIME_MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z in microseconds since 1970
_TIME_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
