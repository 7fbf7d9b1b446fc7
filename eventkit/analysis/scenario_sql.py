"""The SQL behind :class:`eventkit.whatif.Scenario`: a scenario's edits as a chain of DuckDB views.

The chain starts from the store's ``events`` view (renamed ``_ek_base``) and adds one view per
edit, each a projection of the one before: nothing is copied. Every row carries bookkeeping
columns (``_ek_dropped``, the labels for :meth:`Scenario.changes`, where it folds) and the payload
as one flat column per field, so ``where=`` and ``set=`` expressions name fields directly
(``amount > 100``). Dropped rows stay in the chain, flagged, so the audit sees them; the ``events``
view filters them out and packs the payload back into ``data``.

Ordering. Drops and payload changes keep every event's place (a drop leaves a gap in its stream's
versions). Adds, shifts and replaced streams *place* events by time: a stream with a placed event
is renumbered 1..n, its untouched ("fixed") events keep their relative version order, and a placed
event folds right after the last fixed event with ``occurred_at <= its occurred_at``; an added
event with an explicit ``version`` takes that slot (before the fixed event holding it). Positions
of a renumbered stream are the same set as before, handed out in the new order, so positions stay
unique and still increase with version within a stream.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident, quote_literal

BASE = "_ek_base"
ENVELOPE = ("position", "stream_id", "stream_type", "version", "event_type", "event_id",
            "occurred_at", "recorded_at", "metadata")
ENVELOPE_TYPES = {"position": "BIGINT", "stream_id": "VARCHAR", "stream_type": "VARCHAR",
                  "version": "BIGINT", "event_type": "VARCHAR", "event_id": "VARCHAR",
                  "occurred_at": "TIMESTAMPTZ", "recorded_at": "TIMESTAMPTZ",
                  "metadata": "MAP(VARCHAR, VARCHAR)"}
BOOKKEEPING = ("_ek_dropped", "_ek_labels", "_ek_ops", "_ek_place", "_ek_dirty", "_ek_was_at",
               "_ek_erased_fields")
LABELS = ("dropped", "added", "changed", "shifted")
FIXED, SLOTTED, PLACED = 0, 1, 2  # _ek_place: keeps its version / explicit version / by occurred_at

_DUCK_KINDS = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "TIMESTAMP": "TIMESTAMPTZ", "FLOAT": "DOUBLE",
               "INTEGER": "BIGINT", "SMALLINT": "BIGINT", "TINYINT": "BIGINT", "HUGEINT": "BIGINT",
               "UBIGINT": "BIGINT", "UINTEGER": "BIGINT", "USMALLINT": "BIGINT", "UTINYINT": "BIGINT"}


q = quote_ident  # short names: the scenario SQL below uses them on every line
lit = quote_literal


def ts_lit(t: _dt.datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def kind_of(duck_type: str) -> str:
    """eventkit's payload type name (the store catalog's vocabulary) for a DuckDB type."""
    t = str(duck_type).upper()
    if t.startswith("DECIMAL"):
        return "DOUBLE"
    return _DUCK_KINDS.get(t, t)


def struct_type(fields: dict[str, str]) -> str:
    return "STRUCT(" + ", ".join(f"{q(f)} {t}" for f, t in fields.items()) + ")"


@dataclass(frozen=True)
class Op:
    """One compiled edit.

    Attributes:
        kind: ``"drop"``, ``"change"``, ``"shift"`` or ``"add"``.
        label: How :meth:`Scenario.changes` names the edit (e.g. ``"drop(event_types=['Fee'])"``).
        cond: SQL selecting the events the edit applies to (None: every event).
        assign: For ``change``: (field, SQL expression) pairs, evaluated on the values before it.
        shift_us: For ``shift``: microseconds added to ``occurred_at``.
        table: For ``add``: the hypothetical events (envelope columns plus flat payload columns).
        fields: The payload schema (name -> type) after this edit.
    """

    kind: str
    label: str
    fields: tuple[tuple[str, str], ...]
    cond: str | None = None
    assign: tuple[tuple[str, str], ...] = ()
    shift_us: int = 0
    table: pa.Table | None = None


def selector(*, event_types: Any = None, streams: Any = None, between: Any = None,
             where: str | None = None, to_micros: Any) -> str | None:
    """SQL for the common selector arguments; every given one must hold (AND)."""
    conds = []
    for column, values in (("event_type", event_types), ("stream_id", streams)):
        if values is None:
            continue
        values = [values] if isinstance(values, str) else list(values)
        bad = [v for v in values if not isinstance(v, str)]
        if bad or not values:
            raise InvalidInput(f"{column} selector needs one or more strings", column=column, values=bad)
        conds.append(f"{column} IN ({', '.join(lit(v) for v in values)})")
    if between is not None:
        if not isinstance(between, (tuple, list)) or len(between) != 2:
            raise InvalidInput("between= is a (start, end) pair on occurred_at; either may be None",
                               column="between", values=[between])
        start, end = between
        low = None if start is None else to_micros(start, what="between")
        high = None if end is None else to_micros(end, what="between")
        if low is not None and high is not None and low > high:
            # The window would select nothing, and the scenario would silently equal the baseline.
            raise InvalidInput(f"between=({start!r}, {end!r}): the start is after the end; give (start, end) "
                               "with start first", column="between", values=[start, end])
        if low is not None:
            conds.append(f"occurred_at >= make_timestamp({low})::TIMESTAMPTZ")
        if high is not None:
            conds.append(f"occurred_at < make_timestamp({high})::TIMESTAMPTZ")
    if where is not None:
        if not isinstance(where, str) or not where.strip():
            raise InvalidInput("where= is an SQL condition over the events' fields, e.g. 'amount > 100'",
                               column="where", values=[where])
        conds.append(f"coalesce(({where}), false)")
    return " AND ".join(conds) if conds else None


# ---------------------------------------------------------------------------------------------
# Validation: bind user SQL against an empty relation typed like the chain, before any work.

def _typed_empty(fields: dict[str, str]) -> str:
    cols = [f"NULL::{t} AS {q(c)}" for c, t in ENVELOPE_TYPES.items()]
    cols += [f"NULL::{t} AS {q(f)}" for f, t in fields.items()]
    return f"(SELECT {', '.join(cols)} WHERE false) AS events"


def _explain(e: duckdb.Error, what: str, sql: str, fields: dict[str, str]) -> InvalidInput:
    msg = str(e).splitlines()[0]
    m = re.search(r'Referenced (?:column|table) "([^"]+)" not found', str(e))
    known = sorted(fields)
    if m:
        name = m.group(1)
        hint = " (payload fields are named directly, not as data.<field>)" if name == "data" else ""
        return InvalidInput(f"{what}={sql!r} names {name!r}, which the events do not have{hint}; "
                            f"payload fields: {known}; envelope: {list(ENVELOPE)}", column=name)
    return InvalidInput(f"{what}={sql!r} is not a valid SQL expression over the events "
                        f"(payload fields: {known}): {msg}", column=what)


_SCRATCH: dict[int, duckdb.DuckDBPyConnection] = {}
_SCRATCH_LOCK = threading.Lock()


@contextmanager
def _scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty in-memory connection for binding SQL (one per process: it holds no data)."""
    with _SCRATCH_LOCK:
        con = _SCRATCH.get(os.getpid())
        if con is None:
            con = _SCRATCH[os.getpid()] = duckdb.connect()
        yield con


def check_condition(where: str, fields: dict[str, str], *, what: str = "where") -> None:
    """Raise InvalidInput unless ``where`` is a per-event boolean condition over these fields."""
    with _scratch() as con:
        try:
            con.sql(f"SELECT * FROM {_typed_empty(fields)} WHERE ({where})").fetchall()
            typ = str(con.sql(f"SELECT ({where}) FROM {_typed_empty(fields)}").types[0])
        except duckdb.Error as e:
            raise _explain(e, what, where, fields) from None
        if typ not in ("BOOLEAN", '"NULL"', "NULL"):
            raise InvalidInput(f"{what}={where!r} is a {typ}, not a condition (true/false)", column=what)


def expression_kind(expr: str, fields: dict[str, str], *, what: str) -> str:
    """The payload type of a per-event SQL expression, or InvalidInput naming what is wrong."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidInput(f"{what} must be an SQL expression string, e.g. 'amount * 1.1'", column=what,
                           values=[expr])
    with _scratch() as con:
        try:
            # Bound inside a CASE, as the scenario's view uses it: '1) --' (a bare SELECT accepts it,
            # the comment eating the rest) fails here, not when the scenario is folded.
            rel = con.sql(f"SELECT CASE WHEN true THEN ({expr}) END AS v, * FROM {_typed_empty(fields)}")
            rel.fetchall()
        except duckdb.Error as e:
            raise _explain(e, what, expr, fields) from None
        return kind_of(str(rel.types[0]))


# ---------------------------------------------------------------------------------------------
# Compilation

def _base_view(fields: dict[str, str], head: int, cut: str | None, erased: bool = False) -> str:
    flat = [f"data.{q(f)} AS {q(f)}" for f in fields]
    cols = list(ENVELOPE) + ["data AS _ek_data"] + flat + [
        "false AS _ek_dropped", "[]::VARCHAR[] AS _ek_labels", "[]::VARCHAR[] AS _ek_ops",
        f"{FIXED}::INTEGER AS _ek_place", "false AS _ek_dirty", "NULL::TIMESTAMPTZ AS _ek_was_at",
        "erased_fields AS _ek_erased_fields" if erased else "[]::VARCHAR[] AS _ek_erased_fields"]
    where = f"position <= {int(head)}" + (f" AND {cut}" if cut else "")
    return f"SELECT {', '.join(cols)} FROM {BASE} WHERE {where}"


def _mark(prev: str, cond: str | None, label: str, replace: list[str], *, mark: str) -> str:
    """A step applying ``replace`` to the live rows matching ``cond``; ``_m`` flags them."""
    m = "NOT _ek_dropped" + (f" AND {cond}" if cond else "")
    replace = replace + [
        f"CASE WHEN _m THEN list_append(_ek_labels, {lit(mark)}) ELSE _ek_labels END AS _ek_labels",
        f"CASE WHEN _m THEN list_append(_ek_ops, {lit(label)}) ELSE _ek_ops END AS _ek_ops",
    ]
    return f"SELECT * EXCLUDE (_m) REPLACE ({', '.join(replace)}) FROM (SELECT *, ({m}) AS _m FROM {prev})"


def _step(prev: str, op: Op, before: dict[str, str], index: int) -> str:
    after = dict(op.fields)
    if op.kind == "drop":
        return _mark(prev, op.cond, op.label, ["_m OR _ek_dropped AS _ek_dropped"], mark="dropped")
    if op.kind == "change":
        targets = dict(op.assign)
        repl = []
        for f, t in after.items():
            if f in targets:
                repl.append(f"CASE WHEN _m THEN ({targets[f]})::{t} ELSE {q(f)}::{t} END AS {q(f)}")
            elif before.get(f) != t:
                repl.append(f"{q(f)}::{t} AS {q(f)}")
        repl.append("_m OR _ek_dirty AS _ek_dirty")
        # A field the change sets holds the scenario's value now, not an erased one.
        repl.append("CASE WHEN _m THEN list_filter(_ek_erased_fields, lambda x: x NOT IN ("
                    + ", ".join(lit(f) for f in targets) + ")) ELSE _ek_erased_fields END AS _ek_erased_fields")
        return _mark(prev, op.cond, op.label, repl, mark="changed")
    if op.kind == "shift":
        repl = [f"CASE WHEN _m THEN occurred_at + to_microseconds({int(op.shift_us)}::BIGINT) ELSE occurred_at END AS occurred_at",
                f"CASE WHEN _m THEN {PLACED} ELSE _ek_place END AS _ek_place",
                "CASE WHEN _m THEN coalesce(_ek_was_at, occurred_at) ELSE _ek_was_at END AS _ek_was_at"]
        return _mark(prev, op.cond, op.label, repl, mark="shifted")
    if op.kind == "add":
        assert op.table is not None
        old = list(ENVELOPE) + ["_ek_data"]
        old += [f"{q(f)}::{t} AS {q(f)}" if f in before else f"NULL::{t} AS {q(f)}" for f, t in after.items()]
        old += list(BOOKKEEPING)
        have = set(op.table.column_names)
        new = ["position", "stream_id", "stream_type", "version::BIGINT AS version", "event_type", "event_id",
               "occurred_at", "NULL::TIMESTAMPTZ AS recorded_at",
               "CASE WHEN metadata IS NULL THEN NULL ELSE metadata::JSON::MAP(VARCHAR, VARCHAR) END AS metadata",
               "NULL AS _ek_data"]
        new += [f"{q(f)}::{t} AS {q(f)}" if f in have else f"NULL::{t} AS {q(f)}" for f, t in after.items()]
        new += ["false AS _ek_dropped", "['added']::VARCHAR[] AS _ek_labels",
                f"[{lit(op.label)}]::VARCHAR[] AS _ek_ops",
                f"CASE WHEN version IS NULL THEN {PLACED} ELSE {SLOTTED} END::INTEGER AS _ek_place",
                "true AS _ek_dirty", "NULL::TIMESTAMPTZ AS _ek_was_at", "[]::VARCHAR[] AS _ek_erased_fields"]
        return f"SELECT {', '.join(old)} FROM {prev} UNION ALL SELECT {', '.join(new)} FROM _ek_add{index}"
    raise AssertionError(op.kind)


_REORDER = f"""
WITH t AS MATERIALIZED (
  SELECT *, row_number() OVER (PARTITION BY stream_id ORDER BY position) AS _rp FROM (
    SELECT *, coalesce(max(CASE WHEN _ek_place = {FIXED} THEN version END) OVER (
        PARTITION BY stream_id ORDER BY occurred_at, _ek_place <> {FIXED}, position
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 0) AS _anchor
    FROM {{last}} WHERE NOT _ek_dropped AND stream_id IN (SELECT stream_id FROM _ek_touched))
), k AS (
  SELECT *, row_number() OVER (PARTITION BY stream_id ORDER BY
      CASE WHEN _ek_place = {PLACED} THEN _anchor ELSE version END,
      CASE _ek_place WHEN {SLOTTED} THEN 0 WHEN {FIXED} THEN 1 ELSE 2 END,
      CASE WHEN _ek_place = {PLACED} THEN occurred_at END, position) AS _rk
  FROM t
)
SELECT k.* EXCLUDE (_anchor, _rp, _rk) REPLACE (k._rk AS version, p.position AS position)
FROM k JOIN (SELECT stream_id, _rp, position FROM t) AS p ON k.stream_id = p.stream_id AND k._rk = p._rp
"""


ERASURE = "len(_ek_erased_fields) > 0 AS erased, _ek_erased_fields AS erased_fields"  # the store's two columns


def compile_views(*, base_fields: dict[str, str], ops: Sequence[Op], head: int, cut: str | None,
                  as_of: _dt.datetime | None, erased: bool = False) -> list[str]:
    """The statements creating ``_ek_all`` (every row, dropped ones flagged) and ``events``.

    ``erased``: the store's events carry the columns ``erased`` and ``erased_fields`` (it has personal
    fields); the scenario's then do too (nothing erased on added events, nor in a field a change sets), so
    folds over it flag what involves erased values.
    """
    stmts = [f"CREATE OR REPLACE TEMP VIEW _ek_s0 AS {_base_view(base_fields, head, cut, erased)}"]
    fields = dict(base_fields)
    for i, op in enumerate(ops, start=1):
        stmts.append(f"CREATE OR REPLACE TEMP VIEW _ek_s{i} AS {_step(f'_ek_s{i - 1}', op, fields, i)}")
        fields = dict(op.fields)
    last = f"_ek_s{len(ops)}"
    if any(op.kind in ("add", "shift") for op in ops):
        stmts += [
            (f"CREATE OR REPLACE TEMP VIEW _ek_touched AS SELECT DISTINCT stream_id FROM {last} "
             f"WHERE NOT _ek_dropped AND _ek_place > {FIXED}"),
            f"CREATE OR REPLACE TEMP VIEW _ek_reordered AS {_REORDER.format(last=last)}",
            (f"CREATE OR REPLACE TEMP VIEW _ek_all AS SELECT * FROM {last} WHERE _ek_dropped OR stream_id NOT IN "
             "(SELECT stream_id FROM _ek_touched) UNION ALL BY NAME SELECT * FROM _ek_reordered"),
        ]
    else:
        stmts.append(f"CREATE OR REPLACE TEMP VIEW _ek_all AS SELECT * FROM {last}")
    dirty = any(op.kind in ("add", "change") for op in ops)
    if not fields or (not dirty and fields == base_fields):
        data = "_ek_data"
    else:
        st = struct_type(fields)
        packed = f"struct_pack({', '.join(f'{q(f)} := {q(f)}::{t}' for f, t in fields.items())})::{st}"
        data = packed if not base_fields else f"CASE WHEN _ek_dirty THEN {packed} ELSE _ek_data::{st} END"
    where = "NOT _ek_dropped" + (f" AND occurred_at <= {ts_lit(as_of)}" if as_of is not None else "")
    stmts.append(
        "CREATE OR REPLACE TEMP VIEW events AS SELECT position::BIGINT AS position, stream_id, stream_type, "
        "version::BIGINT AS version, event_type, event_id, occurred_at, recorded_at, "
        f"{data} AS data, metadata{', ' + ERASURE if erased else ''} FROM _ek_all WHERE {where}")
    return stmts


def changes_sql(fields: dict[str, str], as_of: _dt.datetime | None, erased: bool = False) -> str:
    """The audit query: every event an edit touched, with what happened to it."""
    label = "concat_ws(',', " + ", ".join(
        f"CASE WHEN list_contains(_ek_labels, {lit(lab)}) THEN {lit(lab)} END" for lab in LABELS) + ")"
    flat = [f"{q(f)}::{t} AS {q(f)}" for f, t in fields.items()]
    cols = [f"{label} AS change", "array_to_string(_ek_ops, '; ') AS op", *ENVELOPE,
            "_ek_was_at AS occurred_at_before", *flat, *([ERASURE] if erased else [])]
    where = "len(_ek_labels) > 0" + (f" AND occurred_at <= {ts_lit(as_of)}" if as_of is not None else "")
    return f"SELECT {', '.join(cols)} FROM _ek_all WHERE {where} ORDER BY position, _ek_dropped DESC"
