"""Persisted fold snapshots: save a declarative fold's state at a position, start later folds there.

A saved state holds, per stream, the fold's *partial* results (each reducer leaf's combinable
partials: counts, sums, the value and version of a first/last, ...) over every event up to the
saved position. A later :meth:`Fold.state` reads it, folds only the events after that position,
and combines the two with the same rules the snapshot series use across time buckets. So the
answer is the same as folding from scratch (tested), for a fraction of the scan.

A state is used only when it is valid for the question:

- the fold's definition is the one that saved it (its fingerprint, which also covers the store's
  registered upcasters): a changed fold never reads a stale state;
- it was saved at or before the ``known_at`` position asked for (a ``known_at`` given as a time
  folds from scratch);
- with ``as_of``, every event it holds occurred at or before ``as_of``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from eventkit.store import fold_state_files as _fold_states
from eventkit.common.errors import InvalidFold, StoreError
from eventkit.fold.erasure import with_erased
from eventkit.fold.sources import checked_stream_ids, open_source
from eventkit.common.sql import quote_ident
from eventkit.fold.reducers import COMPILED, Leaf, Schema, unique_leaves
from eventkit.store.read_snapshot import parquet_scan
from eventkit.common.timeparse import parse_as_of, parse_known_at

if TYPE_CHECKING:
    from eventkit.store.event_store import Store

# The Fold (eventkit.fold.declarative) passes itself in; it is not imported because it sits above this
# module and imports point down.
Fold = Any

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def fingerprint(fold: Fold, store: Any) -> str:
    """The fold's fingerprint, extended by the upcasters the store applies to its events."""
    upcasters = getattr(store, "upcasters", [])
    # The saved columns are the leaves' partials: a change in how reducers compile to leaves
    # (COMPILED) makes older saved states unusable, as a changed fold does.
    text = fold.fingerprint + f"|{COMPILED}|" + "|".join(repr(u) for u in upcasters)
    personal = getattr(store, "personal_state", None)
    if personal is not None:
        fields, erasures = personal()
        if fields:  # a state saved before an erasure (or a declaration) holds what was erased since: not used
            text += f"|personal={fields}|erasures={erasures}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _partials(leaves: list[Leaf], schema: Schema) -> tuple[list[str], list[list[str]]]:
    """SELECT items for every leaf's partials, and their column names per leaf."""
    items, names = [], []
    for i, leaf in enumerate(leaves):
        cols = []
        for j, sql in enumerate(leaf.partials(schema, leaf.condition(schema))):
            cols.append(f"_l{i}_{j}")
            items.append(f"{sql} AS _l{i}_{j}")
        names.append(cols)
    return items, names


def save_state(fold: Fold, store: Store, *, known_at: Any = None) -> _fold_states.FoldState:
    """Fold every stream up to ``known_at`` (default: now) and save the partial state in the store.

    Returns:
        The saved state's description (fold, fingerprint, position, streams, path).

    Example:
        >>> account.save_snapshot(store)                      # doctest: +SKIP
        FoldState(fold='account', fingerprint='...', position=108661, ...)
    """
    from eventkit.store.event_store import Store

    if not isinstance(store, Store):
        raise InvalidFold(f"fold states are saved in an event store, not in a {type(store).__name__}")
    known = parse_known_at(known_at)
    if known is not None and not isinstance(known, int):
        raise InvalidFold("save_snapshot takes known_at as a position (int); a time has no exact position")
    for _ in range(3):
        # The erasure count and the fingerprint are read before the events: a state computed across an
        # erasure (another process's forget) is then never recorded under a later count (see save).
        erasures = store.personal_state()[1]
        print_ = fingerprint(fold, store)
        with open_source(store, stream_type=fold.stream_type, known_at=known) as src:
            fold.prepare(src)
            leaves = unique_leaves(with_erased(fold.fields, src).values())
            items, _ = _partials(leaves, src.schema)
            position = src.known_position()
            table = src.con.sql(
                f"SELECT stream_id, {', '.join(items)}, max(version) AS version, max(position) AS position, "
                f"epoch_us(max(occurred_at)) AS _max_occurred FROM {src.relation} GROUP BY stream_id ORDER BY stream_id"
            ).to_arrow_table()
        max_occurred = table.column("_max_occurred").to_pylist()
        latest = max((m for m in max_occurred if m is not None), default=None)
        saved = _fold_states.save(store, fold=fold.name, fingerprint=print_, position=position,
                                  max_occurred=latest, table=table.drop_columns(["_max_occurred"]), erasures=erasures)
        if saved is not None:
            return saved
    raise StoreError("save_snapshot: personal data was erased while the state was computed, three times running; "
                     "nothing was saved. Save it again when no erasure is under way")


def saved_state_for(fold: Fold, store: Any, *, as_of: Any, known_at: Any) -> _fold_states.FoldState | None:
    """The newest saved state usable for this question, or None (then fold from scratch)."""
    from eventkit.store.event_store import Store

    if not isinstance(store, Store):
        return None
    known = parse_known_at(known_at)
    if known is not None and not isinstance(known, int):
        return None
    upto = store.head if known is None else known
    as_of_t = parse_as_of(as_of)
    # Microseconds from the datetime itself: a pandas Timestamp's nanoseconds overflow past 2262.
    as_of_us = None if as_of_t is None else (as_of_t - _EPOCH) // _dt.timedelta(microseconds=1)
    return _fold_states.newest(store, fingerprint(fold, store), upto=upto, as_of=as_of_us)


def state_from_saved(fold: Fold, store: Store, saved: _fold_states.FoldState, *, as_of: Any, known_at: Any,
                     streams: Any) -> pd.DataFrame:
    """``fold.state(...)``: the saved partials combined with the partials of the newer events."""
    with open_source(store, stream_type=fold.stream_type, as_of=as_of, known_at=known_at, streams=streams,
                     extra_where=f"position > {int(saved.position)}") as src:
        fold.prepare(src)
        schema = src.schema
        fields = with_erased(fold.fields, src)
        leaves = unique_leaves(fields.values())
        items, cols = _partials(leaves, schema)
        newer = (f"SELECT stream_id, {', '.join(items)}, max(version) AS version, max(position) AS position "
                 f"FROM {src.relation} GROUP BY stream_id")
        older = f"SELECT * FROM {parquet_scan([store.files.url(saved.path)])}"
        if streams is not None:
            src.con.register("_ek_saved_streams", pa.table({"stream_id": pa.array(checked_stream_ids(streams), pa.string())}))
            older += " WHERE stream_id IN (SELECT stream_id FROM _ek_saved_streams)"
        combined, names = [], {}
        for leaf, leaf_cols in zip(leaves, cols):
            for j, combiner in enumerate(leaf.combiners(schema)):
                combined.append(f"{combiner.format(*leaf_cols)} AS {leaf_cols[j]}")
            names[leaf] = leaf.finish(leaf_cols[0], schema)
        outs = [f"{red.final_sql(names)} AS {quote_ident(k)}" for k, red in fields.items()]
        sql = (
            f"SELECT stream_id, {', '.join(outs)}, version, position FROM ("
            f"SELECT stream_id, {', '.join(combined)}, max(version) AS version, max(position) AS position "
            f"FROM ({older} UNION ALL BY NAME {newer}) GROUP BY stream_id) ORDER BY stream_id"
        )
        return src.con.sql(sql).df()
