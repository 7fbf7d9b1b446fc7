"""What a scenario gives back: its events (``connect``, ``sql``, ``read_all``, ``changes``), folds compared
with the baseline, an overlay chart, and a new store of its events (``materialize``).

:class:`ScenarioResults` is a base class of :class:`eventkit.analysis.whatif.Scenario`; it reads the
scenario's pinned cut (``_base``) and edits (``_ops``) and compiles them with :mod:`.scenario_sql`.

May use :mod:`eventkit.common`, :mod:`eventkit.store`, :mod:`eventkit.fold` (through the folds passed
in), :mod:`.scenario_sql`, :mod:`.compare` and :mod:`.charts` (on first use).
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Any

import duckdb

from eventkit.analysis import scenario_sql as S
from eventkit.analysis.compare import state_diff
from eventkit.common.errors import StoreError
from eventkit.common.timeparse import parse_known_at

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from eventkit.store.event_store import Store

BASELINE = "baseline"  # the baseline's name in compared output; no scenario may take it
OUTPUT_COLUMNS = ("stream_id", "version", "position", "as_of", "complete")


class ScenarioResults:
    """The reading half of :class:`~eventkit.analysis.whatif.Scenario`."""

    # Provided by Scenario (declared here, not stubbed: a stub would be dead code that could shadow them).
    _base: Any
    _ops: tuple[S.Op, ...]
    name: str
    fields: dict[str, str]
    baseline: Any

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
            rename_events(con)
            erased = "erased" in con.sql(f"SELECT * FROM {S.BASE} LIMIT 0").columns  # personal fields
            for i, op in enumerate(self._ops, start=1):
                if op.table is not None:
                    con.register(f"_ek_add{i}", op.table)
            for stmt in S.compile_views(base_fields=dict(base.fields), ops=self._ops, head=base.head,
                                        cut=cut, as_of=base.as_of, erased=erased):
                con.execute(stmt)
        except BaseException:
            con.close()
            raise
        return con

    def personal_state(self) -> tuple[list[str], int]:
        """The store's personal fields and erasure count (folds over the scenario flag erased values)."""
        state = getattr(self._base.store, "personal_state", None)
        return state() if state is not None else ([], 0)

    def sql(self, query: str, *, params: Any = None) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the scenario's ``events`` (like ``Store.sql``)."""
        return self.connect().sql(query, params=params)

    def read_all(self) -> pd.DataFrame:
        """The scenario's events in position order with flat payload columns (small scenarios)."""
        flat = ", ".join(f"data.{S.q(f)} AS {S.q(f)}" for f in self.fields)
        con = self.connect()
        try:
            return _frame(con, con.sql(f"SELECT * EXCLUDE (data){', ' + flat if flat else ''} FROM events "
                                       "ORDER BY position"))
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
            erased = "erased" in con.sql("SELECT * FROM events LIMIT 0").columns
            return _frame(con, con.sql(S.changes_sql(self.fields, self._base.as_of, erased)))
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
            stream on one side only differs, its sums and counts against 0, so ``f_diff.sum()``
            is the total effect); floats equal within 1e-9 relative count as equal.

        Example:
            >>> scn.compare(balance_fold)                                     # doctest: +SKIP
        """
        base = fold.state(self.baseline, as_of=as_of, streams=streams)
        scen = fold.state(self, as_of=as_of, streams=streams)
        return _one_sided_sums(fold, base, scen, state_diff(base, scen, key="stream_id", ignore=OUTPUT_COLUMNS))

    def compare_snapshots(self, fold: Any, *, every: Any = "1D", **kw: Any) -> pd.DataFrame:
        """Snapshot series of baseline and scenario in one long frame (a ``scenario`` column).

        Both halves are the dense series ``fold.snapshots`` returns, on one grid (see
        :meth:`_on_one_grid`): a side whose events end earlier carries its streams' states
        forward to the other side's last point. Grouping by ``scenario`` and ``as_of`` and summing
        gives each side's true total at every point where it has a stream; before a side's first
        stream exists it has no rows (there is no stream to give one), so a pivot by side is NaN
        there: ``pivot_table(..., aggfunc="sum", fill_value=0)`` gives sums and counts of no stream
        (0), and :meth:`compare_aggregate` gives those rows directly.

        Args:
            fold: An ``ek.Fold`` or ``ek.PyFold``.
            every, **kw: As for ``fold.snapshots`` (start, end, streams, as_of, tz, max_rows).

        Returns:
            ``scenario`` (``"baseline"`` or this scenario's name) then the snapshot columns.
            For totals per point without the per-stream rows: :meth:`compare_aggregate`.
        """
        import pandas as pd

        parts = self._on_one_grid(lambda src, **k: fold.snapshots(src, every=every, **k), kw)
        for label, frame in zip((BASELINE, self.name), parts):
            frame.insert(0, "scenario", label)
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
            ``scenario``, ``as_of``, the ``by`` columns, ``streams`` and the values, sorted. Both
            sides have every point of either side's grid (:meth:`_on_one_grid`), so
            ``pivot_table(index="as_of", columns="scenario", values=...)`` has no hole: after a
            side's last event its totals carry forward; at a point where a side has no stream yet
            (a scenario that drops the first events, or every event) it has the other side's rows
            there with ``streams`` 0, sums and counts 0 and the other values missing, as
            :meth:`compare` takes a stream on one side only against 0.

        Example:
            >>> scn.compare_aggregate(account, every="1W", by="currency",
            ...                       values={"balance": ("balance", "sum")})  # doctest: +SKIP
        """
        import pandas as pd

        keys = [by] if isinstance(by, str) else list(by or [])
        labels = (BASELINE, self.name)

        def totals(src: Any, **k: Any) -> pd.DataFrame:
            nonlocal values
            if callable(getattr(fold, "aggregate", None)):
                if values is None:  # the fold's numeric fields, typed by an empty state
                    values = {f: (f, "sum") for f in numeric_state_columns(fold.state(src, streams=[])) if f not in keys}
                return fold.aggregate(src, every=every, values=values, by=by, **k)
            from eventkit.analysis.trends import aggregate as group

            series = fold.snapshots(src, every=every, **k)
            if values is None:
                values = {f: (f, "sum") for f in numeric_state_columns(series) if f not in keys}
            return group(series, by=by, values=values)

        parts = self._on_one_grid(totals, kw)
        for label, frame in zip(labels, parts):
            frame.insert(0, "scenario", label)
        parts = _no_streams_at_zero(parts, labels, values)
        return pd.concat(parts, ignore_index=True)

    def _on_one_grid(self, run: Any, kw: dict[str, Any]) -> list[pd.DataFrame]:
        """``run(side, **kw)`` for baseline and scenario, both up to the later side's last point.

        Without ``end``, each side's grid ends at the first point covering its own last event; a
        scenario that drops the last events (or shifts or adds past the baseline's end) would then
        have points the other side lacks, and a pivot by side would show NaN where that side's
        total is its last one carried forward. The side that ends earlier is run again with
        ``end`` at the other's last point (a point of the same calendar-aligned grid, so no point
        moves). The start needs no rerun: before a side's first event it has no stream, which
        :func:`_no_streams_at_zero` fills in for totals.
        """
        sides = (self.baseline, self)
        parts = [run(side, **kw) for side in sides]
        if kw.get("end") is not None or not (len(parts[0]) and len(parts[1])):
            return parts
        lasts = [part["as_of"].max() for part in parts]
        if lasts[0] != lasts[1]:
            i = 0 if lasts[0] < lasts[1] else 1
            end = lasts[1 - i]
            parts[i] = run(sides[i], **{**kw, "end": int(end) if isinstance(end, Integral) else end})
        return parts

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
        return overlay(t[t["scenario"] == BASELINE], t[t["scenario"] == self.name], y=y,
                       labels=(BASELINE, self.name), title=title, unit=unit, difference=difference,
                       tz=kw.get("tz"))

    # -- materialising ------------------------------------------------------------------------

    def materialize(self, path: Any, *, batch_rows: int = 250_000, **options: Any) -> Store:
        """Write the scenario's events into a new store at ``path`` and return it.

        Events keep their stream, type, event id, occurred_at, metadata, payload and version
        (gaps included); positions and recorded_at are the new store's. Appends go in batches
        (each atomic), in scenario position order. A store with personal fields passes on its
        declarations: the new store holds those values encrypted under keys of its own (``forget``
        works there), and reads erased values as erased (``erased``, ``erased_fields``; its chain
        logs their subjects' erasures), see :mod:`eventkit.analysis.materialize_personal`.

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
        from eventkit.analysis.materialize_personal import write_events

        flat = ", ".join(f"data.{S.q(f)} AS {S.q(f)}" for f in self.fields)
        declared = getattr(self._base.store, "personal_declarations", None)
        declarations = declared() if declared is not None else []
        con = self.connect()
        try:
            erasures = "erased" in con.sql("SELECT * FROM events LIMIT 0").columns and bool(
                con.sql("SELECT coalesce(bool_or(erased), false) FROM events").fetchall()[0][0])
            reader = con.sql(
                "SELECT stream_id, stream_type, version, event_type, event_id, occurred_at, "
                f"to_json(metadata)::VARCHAR AS metadata{', ' + flat if flat else ''}"
                f"{', erased_fields' if erasures else ''} FROM events ORDER BY position").to_arrow_reader(batch_rows)
            # Personal fields stay declared (encrypted, erasable) and erased values stay erased in the new store.
            write_events(reader, target, declarations, erasures=erasures)
        finally:
            con.close()
        return target


def numeric_state_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric state columns of a fold's output (not its bookkeeping columns)."""
    import pandas as pd

    return [c for c in frame.columns if c not in OUTPUT_COLUMNS and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _frame(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """``rel`` as a DataFrame, ``erased_fields`` (a store with personal fields) as tuples like the store's reads."""
    if "erased_fields" not in rel.columns:
        return rel.df()
    from eventkit.store.read_frames import to_pandas

    return to_pandas(con, rel.to_arrow_table(), {})


def rename_events(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute(f"ALTER VIEW events RENAME TO {S.BASE}")
    except duckdb.Error:
        con.execute(f"ALTER TABLE events RENAME TO {S.BASE}")


def _one_sided_sums(fold: Any, base: pd.DataFrame, scen: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """Give a stream on one side only the diff of its additive fields (sums and counts).

    A stream with no events has 0 of every sum and count, so an added stream's diff is its value
    and a dropped one's its negated value: ``compare(...)["balance_diff"].sum()`` is then the total
    effect. Other fields (max, last, a sum plus a constant) stay NaN: they have no value there.
    """
    import numpy as np
    import pandas as pd

    from eventkit.fold.totals import linear

    fields = getattr(fold, "fields", None)
    if not isinstance(fields, dict) or out.empty:
        return out
    only_scen = ~out["stream_id"].isin(base["stream_id"]).to_numpy()
    only_base = ~out["stream_id"].isin(scen["stream_id"]).to_numpy()
    for name, red in fields.items():
        lin = linear(red)
        if f"{name}_diff" not in out or lin is None or lin[1] != 0:
            continue
        diff = out[f"{name}_diff"]
        filled = pd.Series(np.where(only_scen, out[f"{name}_scenario"],
                                    np.where(only_base, 0 - out[f"{name}_baseline"], diff)), index=out.index)
        ints = all(name in f and f[name].dtype.kind in "iu" for f in (base, scen))
        out[f"{name}_diff"] = filled.astype("int64") if ints and filled.notna().all() else filled.astype("float64")
    return out


_ZERO_WHEN_EMPTY = ("sum", "count", "count_distinct")  # a total over no stream; other functions have no value


def _no_streams_at_zero(parts: list[pd.DataFrame], labels: tuple[str, str], values: Any) -> list[pd.DataFrame]:
    """``compare_aggregate``'s two sides, each given the other's rows at the points where it has
    none (no stream exists there yet: before its first event, or it has none at all), with no
    streams: ``streams`` 0, sums and counts 0, other values missing. A pivot, a difference or a
    chart of the frame then sees that side's total of 0 there, not a hole."""
    import numpy as np
    import pandas as pd

    fns = {name: (v if isinstance(v, str) else v[1]) for name, v in (values or {}).items()}
    out = list(parts)
    for i in (0, 1):
        mine, full = parts[i], parts[1 - i]
        missing = full[~full["as_of"].isin(mine["as_of"])]
        if not len(missing):
            continue
        fill = missing.copy()
        for col in fill.columns:
            numeric = full[col].dtype.kind in "iuf"
            if col == "streams" or fns.get(col) in _ZERO_WHEN_EMPTY:
                fill[col] = np.zeros(len(fill), dtype=full[col].dtype if numeric else np.int64)
            elif col in fns:
                fill[col] = np.full(len(fill), np.nan) if numeric else None
            elif col == "erased":
                fill[col] = False
        fill["scenario"] = labels[i]
        if not len(mine):
            out[i] = fill.reset_index(drop=True)
            continue
        # The points with no stream come first in time; a stable sort on the point keeps each
        # point's rows in the order the fold gave them.
        joined = pd.concat([fill, mine], ignore_index=True)
        out[i] = joined.sort_values("as_of", kind="stable", ignore_index=True)
    return out
