"""Totals over time across streams, computed in DuckDB without building the dense series.

:meth:`Fold.aggregate` answers what a dashboard asks of a snapshot series — the total balance per
day, the accounts per status per day — with the same result as grouping the dense series
(``fold.snapshots(...)``) by ``as_of`` (and ``by``), but at the cost of the events, not of
streams x points. Three plans, chosen from the fold's reducers and the functions asked for:

1. **Additive fields, no ``by``** (sums and counts of events, and linear combinations of them,
   like ``sum(deposits) - sum(withdrawals)``): a stream's value moves only by its events'
   contributions, so the total at a point is a running sum of the events' contributions per
   bucket — one scan and a group-by on the bucket, like the SQL one would write by hand. The
   stream count is a running sum of the streams' first buckets.
2. **sum / count / mean of any field, with or without ``by``**: the per-stream change rows
   (only buckets whose events can change the fields asked for, plus each stream's first bucket)
   become transitions: at a change, -1 stream and -old value leave the old group, +1 and +new
   value enter the new one; a running sum over the points per group gives the totals.
3. **Anything else** (min, max, median, count_distinct): the dense series is built and grouped
   inside DuckDB, streamed into the aggregate, never as a pandas frame.

Groups with no stream at a point have no row there (as in a group-by of the dense series); NULL
values are left out of sums, counts and means (a sum of only NULLs is NULL); a NULL ``by`` value
is a group of its own.

When the values or ``by`` read a personal field that a forgotten subject's events lost (see
:mod:`eventkit.fold.erasure`), the output has a column ``erased``: true at a point (and group) when a
stream counted there has such an event up to that point, so a total over erased values never looks
complete. Plan 1 needs only the first bucket holding such an event; plans 2 and 3 carry the flag as
one more per-stream field.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from eventkit.common.errors import InvalidFold
from eventkit.fold.grid import Grid, make_grid
from eventkit.common.sql import quote_ident
from eventkit.fold.erasure import FLAG, erased_condition, flag_reducer, personal_read
from eventkit.fold.reducers import (INTEGER_TYPES, BinOp, Const, FillNull, Leaf, Reducer, Schema, is_numeric_type,
                                    sql_constant, sum_function)
from eventkit.fold.series import cut_as_of, bucket_sql, dense_sql, horizon, horizon_sql, k_where, size_of

if TYPE_CHECKING:
    import pandas as pd

    from eventkit.fold.sources import Source

# The Fold (eventkit.fold.declarative) passes itself in; it is not imported because it sits above this
# module and imports point down.
Fold = Any


FUNCTIONS = ("sum", "count", "mean", "min", "max", "median", "count_distinct")
_RUNNING = {"sum", "count", "mean"}
OUTPUT = ("as_of", "streams", "complete")


def parse_values(fold_fields: Mapping[str, Reducer], values: Any, by: Sequence[str]) -> list[tuple[str, str, str]]:
    """``values=`` as (output, field, function) triples, validated against the fold."""
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise InvalidFold(f"values= must be a mapping such as {{'balance': 'sum'}}, not {values!r}")
    out = []
    for name, spec in values.items():
        col, fn = (name, spec) if isinstance(spec, str) else tuple(spec) if isinstance(spec, (tuple, list)) else (None, None)
        if fn == "avg":
            fn = "mean"
        if fn not in FUNCTIONS:
            raise InvalidFold(f"values[{name!r}]={spec!r}: the function must be one of {list(FUNCTIONS)} "
                              "(as 'sum' for the field of that name, or ('field', 'sum'))")
        if col not in fold_fields and col != "stream_id":
            raise InvalidFold(f"values[{name!r}]: {col!r} is not a field of the fold "
                              f"(fields: {list(fold_fields)})")
        if name in OUTPUT or name in by:
            raise InvalidFold(f"values: the output name {name!r} is taken (by columns, {list(OUTPUT)})")
        out.append((str(name), str(col), fn))
    return out


def linear(red: Reducer) -> tuple[dict[Leaf, Fraction | float], Fraction | float] | None:
    """``red`` as sum(coef * leaf) + const over count/sum leaves, or None if it is not additive."""
    if isinstance(red, Leaf):
        return ({red: Fraction(1)}, Fraction(0)) if red.kind in ("count", "sum") else None
    if isinstance(red, Const):
        v = red.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return {}, Fraction(v) if isinstance(v, int) else v
    if isinstance(red, FillNull):
        return linear(red.inner)  # an additive value is never NULL
    if isinstance(red, BinOp):
        a, b = linear(red.left), linear(red.right)
        if a is None or b is None:
            return None
        if red.op in ("+", "-"):
            sign = 1 if red.op == "+" else -1
            coefs = dict(a[0])
            for leaf, c in b[0].items():
                coefs[leaf] = coefs.get(leaf, 0) + sign * c
            return coefs, a[1] + sign * b[1]
        if red.op == "*":
            if not a[0]:
                a, b = b, a
            if b[0]:
                return None  # a product of two reducers
            return {k: c * b[1] for k, c in a[0].items()}, a[1] * b[1]
        if red.op == "/" and not b[0] and b[1] != 0:
            inv = 1.0 / float(b[1])
            return {k: float(c) * inv for k, c in a[0].items()}, float(a[1]) * inv
    return None


def _num(c: Fraction | float) -> str:
    if isinstance(c, Fraction) and c.denominator == 1:
        return f"{int(c)}::BIGINT" if abs(c) < 2**63 else f"{int(c)}::HUGEINT"
    return f"{float(c)!r}::DOUBLE"


def _cast(red: Reducer, schema: Schema, fn: str) -> str:
    if fn == "mean":
        return "::DOUBLE"
    t = red.sql_type(schema)
    if fn == "count":
        return "::BIGINT"
    return "::BIGINT" if t in INTEGER_TYPES else ("::DOUBLE" if t in ("DOUBLE", "FLOAT", "REAL") else "")


def fold_aggregate(fold: Fold, store: Any, *, every: Any, values: Any, by: Any, start: Any, end: Any,
                   streams: Any, as_of: Any, known_at: Any, tz: Any) -> pd.DataFrame:
    """Implementation of :meth:`Fold.aggregate`."""
    from eventkit.fold.sources import open_source

    by_cols = [by] if isinstance(by, str) else list(by or [])
    for b in by_cols:
        if b not in fold.fields:
            raise InvalidFold(f"by={b!r} is not a field of the fold (fields: {list(fold.fields)})")
    triples = parse_values(fold.fields, values, by_cols)
    grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
    with open_source(store, stream_type=fold.stream_type, as_of=cut_as_of(as_of, grid), known_at=known_at,
                     streams=streams) as src:
        fold.prepare(src)
        schema = src.schema
        for name, col, fn in triples:
            if fn in ("sum", "mean") and not is_numeric_type(fold.fields[col].sql_type(schema)):
                raise InvalidFold(f"values[{name!r}]: {fn} needs a number; {col!r} is "
                                  f"{fold.fields[col].sql_type(schema)}")
        end_point = horizon_sql(grid, horizon(src, grid, known_at))
        lin = {col: linear(fold.fields[col]) for _, col, fn in triples if col != "stream_id"}
        read = {c: fold.fields[c] for c in dict.fromkeys(by_cols + [col for _, col, _ in triples]) if c in fold.fields}
        flag = FLAG not in fold.fields and FLAG not in by_cols and FLAG not in [n for n, _, _ in triples]
        lost = erased_condition(personal_read(read, src.personal), src) if flag else None
        if not by_cols and all(fn in _RUNNING for _, _, fn in triples) and all(v is not None for v in lin.values()):
            sql = _additive_sql(fold, src, grid, triples, lin, end_point, lost)
        elif all(fn in _RUNNING for _, _, fn in triples):
            sql = _transitions_sql(fold, src, grid, triples, by_cols, end_point, lost)
        else:
            sql = _dense_group_sql(fold, src, grid, triples, by_cols, end_point, lost)
        frame = src.con.sql(sql).df()
    if grid.kind != "events" and grid.tz != "UTC":
        frame["as_of"] = frame["as_of"].dt.tz_convert(grid.tz)
    return frame


def _events(src: Source, grid: Grid) -> str:
    where = k_where(grid)
    return f"ev AS (SELECT * FROM (SELECT *, {grid.k_sql()} AS _k FROM {src.relation}){where})"


def last_bucket(src: Source, grid: Grid) -> int:
    """The grid's last point: ``end`` if given, else the bucket of the last event (0 if none).

    The change rows of plan 2 may stop earlier (a last event that changes none of the fields
    asked for), but the series goes on to here."""
    if grid.k_end is not None:
        return grid.k_end
    got = src.con.sql(f"SELECT max({grid.k_sql()}) FROM {src.relation}").fetchall()[0][0]
    return int(got) if got is not None else 0


def _last_k(grid: Grid, table: str) -> str:
    return str(grid.k_end) if grid.k_end is not None else f"(SELECT max(_k) FROM {table})"


def _flag_field(fields: Mapping[str, Reducer], src: Source, lost: str | None) -> dict[str, Reducer]:
    """``fields`` plus the per-stream ``erased`` flag (as folds compute it) when ``lost`` is set."""
    if lost is None:
        return dict(fields)
    return {**fields, FLAG: flag_reducer(lost)}


def _additive_sql(fold: Fold, src: Source, grid: Grid, triples: list, lin: dict, end_point: str,
                  lost: str | None = None) -> str:
    """Plan 1: running sums of the events' contributions per bucket."""
    schema = src.schema
    cols = list(dict.fromkeys(col for _, col, fn in triples if col != "stream_id" and fn != "count"))
    # First one hash aggregate per (bucket, event type, where= outcome): a few thousand rows;
    # the leaves' conditions then pick and sign these partial sums, instead of evaluating a
    # CASE per leaf on every event.
    wheres = list(dict.fromkeys(leaf.where for col in cols for leaf in lin[col][0] if leaf.where is not None))
    fields = list(dict.fromkeys(leaf.field for col in cols for leaf in lin[col][0] if leaf.kind == "sum"))
    pre = ["_k", "event_type"] + [f"({w}) AS _w{i}" for i, w in enumerate(wheres)]
    # Float amounts are summed with fsum (exact, as math.fsum), and a field's signed terms in one
    # fsum per bucket: a balance of amounts with cents stays 3160.16, not 3160.1600000000003.
    pre += [f"{sum_function(schema, [Leaf('sum', f)])}({schema.resolve(f)[0]}) AS _x{i}" for i, f in enumerate(fields)]
    pre += ["count(*) AS _cnt"]
    sums, outs, fns = [], [], []
    for i, col in enumerate(cols):
        coefs, _ = lin[col]
        fn = sum_function(schema, [leaf for leaf in coefs if leaf.kind == "sum"])
        fns.append(fn)
        terms = []
        for leaf, c in coefs.items():
            if c == 0:
                continue
            cond = []
            if leaf.event_types is not None:
                cond.append("event_type IN (" + ", ".join(sql_constant(t) for t in leaf.event_types) + ")")
            if leaf.where is not None:
                cond.append(f"_w{wheres.index(leaf.where)}")
            x = "_cnt" if leaf.kind == "count" else f"_x{fields.index(leaf.field)}"
            term = f"CASE WHEN {' AND '.join(cond)} THEN coalesce({x}, 0) ELSE 0 END" if cond else f"coalesce({x}, 0)"
            terms.append(f"{term} * {_num(c)}" if c != 1 else term)
        sums.append(f"coalesce({fn}({' + '.join(terms)}), 0) AS _s{i}" if terms else f"0 AS _s{i}")
    for name, col, fn in triples:
        if fn == "count" or col == "stream_id":
            outs.append(f"n::BIGINT AS {quote_ident(name)}")
            continue
        i = cols.index(col)
        total = f"(s{i} + {_num(lin[col][1])} * n)" if lin[col][1] != 0 else f"s{i}"
        expr = f"{total} / n" if fn == "mean" else total
        outs.append(f"({expr}){_cast(fold.fields[col], schema, fn)} AS {quote_ident(name)}")
    s_cols = "".join(f", coalesce(e._s{i}, 0) AS _d{i}" for i in range(len(cols)))
    e_sel = (f"SELECT _k, {', '.join(sums)} FROM (SELECT {', '.join(pre)} FROM ev GROUP BY ALL) GROUP BY _k"
             if sums else "SELECT DISTINCT _k FROM ev")
    run = "".join(f", {fns[i]}(_d{i}) OVER w AS s{i}" for i in range(len(cols)))
    fill = "".join(f", last_value(s{i} IGNORE NULLS) OVER w AS s{i}" for i in range(len(cols)))
    at = grid.at_sql("_k")
    # Every stream with an event up to a point is counted there: the point involves erased values from the
    # first bucket holding an event that lost a personal field the values read.
    erased = (f", coalesce(_k >= (SELECT min(_k) FROM ev WHERE {lost}), false) AS {FLAG}"
              if lost else "")
    return f"""WITH {_events(src, grid)},
e AS ({e_sel}),
f AS (SELECT _k, count(*) AS _n FROM (SELECT min(_k) AS _k FROM ev GROUP BY stream_id) GROUP BY _k),
j AS (SELECT _k, coalesce(f._n, 0) AS _dn{s_cols} FROM e FULL JOIN f USING (_k)),
r AS (SELECT _k, sum(_dn) OVER w AS n{run} FROM j WINDOW w AS (ORDER BY _k ROWS UNBOUNDED PRECEDING)),
pts AS (SELECT unnest(range((SELECT min(_k) FROM r), {_last_k(grid, 'r')} + 1)) AS _k),
g AS (SELECT _k, last_value(n IGNORE NULLS) OVER w AS n{fill} FROM pts LEFT JOIN r USING (_k)
      WINDOW w AS (ORDER BY _k ROWS UNBOUNDED PRECEDING))
SELECT {at} AS as_of, n::BIGINT AS streams{''.join(', ' + o for o in outs)}{erased}, {at} <= {end_point} AS complete
FROM g WHERE n > 0 ORDER BY _k
"""


def _transitions_sql(fold: Fold, src: Source, grid: Grid, triples: list, by_cols: list[str],
                     end_point: str, lost: str | None = None) -> str:
    """Plan 2: per-stream changes as +1/-1 (and +new/-old value) transitions, running sums.

    With ``lost``, the per-stream ``erased`` flag is one more value: its running sum counts the flagged
    streams of each group."""
    schema = src.schema
    vcols = list(dict.fromkeys(col for _, col, _ in triples if col != "stream_id"))
    needed = {k: fold.fields[k] for k in dict.fromkeys(by_cols + vcols)}
    if not needed:
        needed = {k: fold.fields[k] for k in list(fold.fields)[:1]}
    needed = _flag_field(needed, src, lost)
    if lost:
        vcols.append(FLAG)
    head, _ = bucket_sql(needed, src, grid, relevant_only=True)
    gs = [f"_g{i}" for i in range(len(by_cols))] or ["_g0"]
    g_sel = ", ".join(f"{quote_ident(b)} AS _g{i}" for i, b in enumerate(by_cols)) or "0 AS _g0"
    v_sel = "".join(f", {quote_ident(c)} AS _v{i}" for i, c in enumerate(vcols))
    summed = {i for i, c in enumerate(vcols) if any(col == c and fn != "count" for _, col, fn in triples)}
    lags = "".join(f", lag({g}) OVER p AS _p{g}" for g in gs) + "".join(
        f", lag(_v{i}) OVER p AS _pv{i}" for i in range(len(vcols)))
    changed = " OR ".join([f"{g} IS DISTINCT FROM _p{g}" for g in gs]
                          + [f"_v{i} IS DISTINCT FROM _pv{i}" for i in range(len(vcols))])
    new = [f"{g}" for g in gs] + ["1 AS _dn"]
    old = [f"_p{g} AS {g}" for g in gs] + ["-1 AS _dn"]
    for i in range(len(vcols)):
        if i in summed:
            new.append(f"_v{i} AS _ds{i}")
            old.append(f"-_pv{i} AS _ds{i}")
        new.append(f"(_v{i} IS NOT NULL)::BIGINT AS _dc{i}")
        old.append(f"-((_pv{i} IS NOT NULL)::BIGINT) AS _dc{i}")
    dcols = ["_dn"] + [f"_ds{i}" for i in sorted(summed)] + [f"_dc{i}" for i in range(len(vcols))]
    rcols = ["n"] + [f"s{i}" for i in sorted(summed)] + [f"c{i}" for i in range(len(vcols))]
    glist = ", ".join(gs)
    # Running sums of float values (+new, -old) use fsum: exact, so no rounding builds up.
    floats = {f"_ds{i}" for i in summed if fold.fields[vcols[i]].sql_type(schema) in ("FLOAT", "REAL", "DOUBLE")}
    run = ", ".join(f"{'fsum' if d in floats else 'sum'}({d}) OVER w AS {r}" for d, r in zip(dcols, rcols))
    agg = ", ".join(f"{'fsum' if d in floats else 'sum'}({d}) AS {d}" for d in dcols)
    on = " AND ".join(f"r.{g} IS NOT DISTINCT FROM grp.{g}" for g in gs)
    fill = ", ".join(f"last_value(r.{r} IGNORE NULLS) OVER w AS {r}" for r in rcols)
    outs = []
    for name, col, fn in triples:
        if col == "stream_id":
            outs.append(f"n::BIGINT AS {quote_ident(name)}")
            continue
        i = vcols.index(col)
        if fn == "count":
            expr = f"c{i}"
        elif fn == "sum":
            expr = f"CASE WHEN c{i} > 0 THEN s{i} END"
        else:
            expr = f"s{i} / NULLIF(c{i}, 0)"
        outs.append(f"({expr}){_cast(fold.fields[col], schema, fn)} AS {quote_ident(name)}")
    if lost:
        i = vcols.index(FLAG)
        v_sel = v_sel.replace(f"{quote_ident(FLAG)} AS _v{i}", f"nullif({quote_ident(FLAG)}, false) AS _v{i}")
        outs.append(f"c{i} > 0 AS {FLAG}")  # flagged streams in the group at the point
    by_out = "".join(f", {g} AS {quote_ident(b)}" for g, b in zip(gs, by_cols))
    at = grid.at_sql("_k")
    return f"""{head},
s AS (SELECT stream_id, _k, {g_sel}{v_sel} FROM c),
t AS (SELECT *, lag(_k) OVER p IS NOT NULL AS _had{lags} FROM s
      WINDOW p AS (PARTITION BY stream_id ORDER BY _k)),
t2 AS (SELECT * FROM t WHERE NOT _had OR {changed}),
d AS (SELECT _k, {', '.join(new)} FROM t2 UNION ALL SELECT _k, {', '.join(old)} FROM t2 WHERE _had),
a AS (SELECT _k, {glist}, {agg} FROM d GROUP BY _k, {glist}),
r AS (SELECT _k, {glist}, {run} FROM a WINDOW w AS (PARTITION BY {glist} ORDER BY _k ROWS UNBOUNDED PRECEDING)),
pts AS (SELECT unnest(range((SELECT min(_k) FROM r), {last_bucket(src, grid)} + 1)) AS _k),
grp AS (SELECT DISTINCT {glist} FROM r),
full_ AS (SELECT pts._k, {', '.join('grp.' + g for g in gs)}, {', '.join('r.' + x for x in rcols)}
          FROM pts CROSS JOIN grp LEFT JOIN r ON r._k = pts._k AND {on}),
g AS (SELECT _k, {glist}, {fill.replace('r.', '')} FROM full_
      WINDOW w AS (PARTITION BY {glist} ORDER BY _k ROWS UNBOUNDED PRECEDING))
SELECT {at} AS as_of{by_out}, n::BIGINT AS streams{''.join(', ' + o for o in outs)},
       {at} <= {end_point} AS complete
FROM g WHERE n > 0 ORDER BY _k{''.join(', ' + g for g in gs[:len(by_cols)])}
"""


_SQL_FN = {"sum": "sum({})", "count": "count({})", "mean": "avg({})", "min": "min({})",
           "max": "max({})", "median": "median({})", "count_distinct": "count(DISTINCT {})"}


def _dense_group_sql(fold: Fold, src: Source, grid: Grid, triples: list, by_cols: list[str],
                     end_point: str, lost: str | None = None) -> str:
    """Plan 3: the dense series grouped inside DuckDB (streamed, never a pandas frame)."""
    schema = src.schema
    cols = list(dict.fromkeys(by_cols + [c for _, c, _ in triples if c != "stream_id"]))
    needed = {k: fold.fields[k] for k in cols} or {k: fold.fields[k] for k in list(fold.fields)[:1]}
    needed = _flag_field(needed, src, lost)
    _, _, _, last_k = size_of(src, grid)
    inner = dense_sql(needed, src, grid, last_k=last_k, horizon=None, order=False)
    outs = []
    for name, col, fn in triples:
        cast = "::BIGINT" if fn == "count" or fn == "count_distinct" else (
            _cast(fold.fields[col], schema, fn) if fn == "sum" else "")
        outs.append(f"{_SQL_FN[fn].format(quote_ident(col))}{cast} AS {quote_ident(name)}")
    if lost:
        outs.append(f"bool_or({FLAG}) AS {FLAG}")
    keys = ", ".join(["as_of"] + [quote_ident(b) for b in by_cols])
    return (f"SELECT {keys}, count(*)::BIGINT AS streams{''.join(', ' + o for o in outs)}, "
            f"as_of <= {end_point} AS complete FROM ({inner}) GROUP BY {keys} ORDER BY {keys}")
