"""Folds on a Dask cluster: partial folds per group of segment files, combined by the reducers.

A declarative fold is a map and a combine. The client takes one consistent snapshot of the store
(one catalog read transaction), splits its segment files into groups (and the hot-log rows into a
group of their own), and each Dask task folds one group to *partial* states: per stream (and per
time bucket for a series) every reducer leaf's combinable partials — counts, sums, the value and
version of a first/last, min, max. Streams may span groups; the partials combine exactly as the
snapshot series combine time buckets (``first``/``last`` by version), so the answer is the local
fold's. A Python fold is split by stream hash instead (a stream's handlers must see all its events
in order): each task folds the streams whose ``hash(stream_id) % n`` is its own.

Nothing here imports Dask: ``scheduler`` is a ``dask.distributed.Client`` (anything with
``submit`` and ``gather``), and the tasks are plain functions of this module, so the workers need
eventkit installed and the segment files reachable under the same paths (a shared folder or an
object store). On one machine DuckDB alone is faster (it already uses every core); Dask is for
data or work that outgrows one machine.

Example:
    >>> from dask.distributed import Client, LocalCluster          # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # doctest: +SKIP
    >>> account.state(store, scheduler=client)                     # doctest: +SKIP
    >>> account.snapshots(store, every="1W", scheduler=client)     # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import duckdb
import pyarrow as pa

from eventkit.common.errors import InvalidFold
from eventkit.common.sql import quote_ident
from eventkit.common.timeparse import parse_known_at
from eventkit.fold.reducers import Schema, unique_leaves
from eventkit.fold.sources import Source, checked_stream_ids, open_source

if TYPE_CHECKING:
    import pandas as pd

    from eventkit.store.read_snapshot import Snapshot

Fold = Any  # eventkit.fold.declarative.Fold sits above this module (imports point down)

#: Tasks per worker for a declarative fold: a few, so a slow worker does not hold up the rest.
TASKS_PER_WORKER = 2


@dataclasses.dataclass
class SnapshotPart:
    """A picklable slice of one store snapshot: some of its segment files and/or its hot rows.

    It reads like a store to :func:`eventkit.fold.sources.open_source` (``connect()`` gives a
    connection whose ``events`` view is this slice), under the cut of the snapshot it came from.

    Attributes:
        sql: The ``events`` view's SELECT over this slice (cut and upcasts applied), or None to
            build it where the part is read (segments resolved by its file store).
        contents: The slice's segments, file store, hot rows and the store's payload schema.
        upcast: The store's upcast plan (it pickles: its steps are data).
    """

    sql: str | None
    contents: Snapshot
    upcast: Any = None

    def connect(self, known_at: Any = None) -> duckdb.DuckDBPyConnection:
        if known_at is not None:  # the cut is the snapshot's; a second one would be a bug here
            raise InvalidFold("a snapshot part is already cut; known_at belongs to the snapshot")
        con = self.contents.prepare(_cursor())
        sql = self.sql
        if sql is None:
            sql = self.contents.events_sql()
            sql = self.upcast(sql) if self.upcast is not None else sql
        con.execute(f"CREATE TEMP VIEW events AS {sql}")
        return con


_INSTANCES: dict[int, duckdb.DuckDBPyConnection] = {}


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on this process's DuckDB instance for fold tasks.

    A task runs in milliseconds on a small slice; a new DuckDB instance per task cost more than
    the fold. Keyed by process: an instance inherited through fork is never used (nor released).
    """
    from eventkit.store.read_snapshot import utc_cursor

    pid = os.getpid()
    if pid not in _INSTANCES:
        _INSTANCES[pid] = duckdb.connect()
        _INSTANCES[pid].execute("SET GLOBAL parquet_metadata_cache = true")  # cursors too (see read_snapshot)
    return utc_cursor(_INSTANCES[pid])


def check_scheduler(scheduler: Any) -> None:
    """Refuse anything that is not a Dask client (a string, a cluster) before any work."""
    if not (callable(getattr(scheduler, "submit", None)) and callable(getattr(scheduler, "gather", None))):
        raise InvalidFold(
            f"scheduler={scheduler!r} is not a dask.distributed Client: pass "
            "scheduler=Client(...) (e.g. Client(LocalCluster(n_workers=2))), or leave it out to fold locally")


def worker_count(scheduler: Any) -> int:
    """How many workers the client's cluster has now (1 if it cannot say)."""
    try:
        return max(1, len(scheduler.scheduler_info()["workers"]))
    except Exception:  # noqa: BLE001 - any client-like object without scheduler_info
        return 1


def take_snapshot(store: Any, *, known_at: Any, stream_type: str | None, streams: Any) -> Snapshot:
    """One consistent snapshot of ``store``, pruned like a local fold's (see ``sources._connect``)."""
    if not callable(getattr(store, "snapshot", None)):
        raise InvalidFold(f"scheduler= folds an event store (ek.open_store(...)), not a {type(store).__name__}")
    personal = getattr(store, "personal_state", None)
    if personal is not None and personal()[0]:
        # Workers would read the encrypted tokens: the keys that reveal them stay with the catalog and
        # are not sent over the cluster. Refused up front rather than failing (or leaking) on a worker.
        raise InvalidFold(
            f"scheduler= cannot fold a store with personal fields (declared: {', '.join(personal()[0])}): their "
            "keys are not sent to Dask workers; fold locally (leave scheduler= out)")
    prune: dict[str, Any] = {}
    if stream_type is not None:
        prune["stream_types"] = [stream_type]
    stream_list = checked_stream_ids(streams)
    if stream_list is not None and len(stream_list) == 1:
        prune["stream_id"] = stream_list[0]
    return store.snapshot(known_at=parse_known_at(known_at), **prune)


def part_of(snap: Snapshot, segments: list[str], hot: pa.Table) -> SnapshotPart:
    """The slice of ``snap`` reading ``segments`` and ``hot`` rows, with the snapshot's cut.

    The segments stay relative to the store's file store, which travels with the part: each
    worker resolves them itself (a local path, or its own cached copy of an object).
    """
    stripped = dataclasses.replace(snap, segments=list(segments), hot=hot, upcast=None, cursor=None, live_files=None)
    if snap.file_store is not None:  # the view is built on the worker, where its file store resolves paths
        return SnapshotPart(None, stripped, snap.upcast)
    return SnapshotPart(dataclasses.replace(stripped, upcast=snap.upcast).events_sql(), stripped)


def split(snap: Snapshot, groups: int) -> list[SnapshotPart]:
    """``snap`` as at most ``groups`` slices of consecutive segment files, plus one of hot rows."""
    files = snap.segments
    n = max(1, min(groups, len(files)))
    size, extra = divmod(len(files), n)
    empty = snap.hot.slice(0, 0)
    parts, at = [], 0
    for i in range(n if files else 0):
        take = size + (1 if i < extra else 0)
        parts.append(part_of(snap, files[at:at + take], empty))
        at += take
    if snap.hot.num_rows or not parts:
        parts.append(part_of(snap, [], snap.hot))
    return parts


def _run(scheduler: Any, fn: Any, parts: list[Any], *args: Any) -> list[Any]:
    futures = [scheduler.submit(fn, part, *args, pure=False) for part in parts]
    return scheduler.gather(futures)


def _leaf_items(fold: Fold, schema: Schema) -> list[str]:
    items = []
    for i, leaf in enumerate(unique_leaves(fold.fields.values())):
        for j, sql in enumerate(leaf.partials(schema, leaf.condition(schema))):
            items.append(f"{sql} AS _l{i}_{j}")
    return items


def state_partials_sql(fold: Fold, source: Source) -> str:
    """Per stream, every leaf's partials over ``source`` (columns ``_l<i>_<j>``, version, position)."""
    return (f"SELECT stream_id, {', '.join(_leaf_items(fold, source.schema))}, max(version) AS version, "
            f"max(position) AS position FROM {source.relation} GROUP BY stream_id")


def state_combine_sql(fold: Fold, schema: Schema, relation: str) -> str:
    """The fold's state from partial rows in ``relation`` (several rows per stream allowed)."""
    combined, names = [], {}
    for i, leaf in enumerate(unique_leaves(fold.fields.values())):
        cols = [f"_l{i}_{j}" for j in range(len(leaf.combiners()))]
        combined += [f"{comb.format(*cols)} AS {cols[j]}" for j, comb in enumerate(leaf.combiners())]
        names[leaf] = leaf.finish(cols[0], schema)
    outs = [f"{red.final_sql(names)} AS {quote_ident(k)}" for k, red in fold.fields.items()]
    return (f"SELECT stream_id, {', '.join(outs)}, version, position FROM ("
            f"SELECT stream_id, {', '.join(combined)}, max(version) AS version, max(position) AS position "
            f"FROM {relation} GROUP BY stream_id) ORDER BY stream_id")


# -- tasks (run on the workers) ----------------------------------------------------------------
def _state_task(part: SnapshotPart, fold: Fold, spec: dict[str, Any]) -> pa.Table:
    with open_source(part, **spec) as src:
        return src.con.sql(state_partials_sql(fold, src)).to_arrow_table()


def _series_task(part: SnapshotPart, fold: Fold, spec: dict[str, Any], grid: Any) -> tuple[pa.Table, int, Any]:
    from eventkit.fold.series import bucket_partials_sql

    with open_source(part, **spec) as src:
        table = src.con.sql(bucket_partials_sql(fold.fields, src, grid)).to_arrow_table()
        high, recorded = src.con.sql("SELECT coalesce(max(position), 0), max(recorded_at) FROM events").fetchall()[0]
    return table, int(high), recorded


def _python_task(part: SnapshotPart, fold: Any, spec: dict[str, Any], payload: list[str], grid: Any,
                 share: tuple[int, int], fold_part: Any) -> list[tuple]:
    with open_source(part, **spec) as src:
        return fold_part(fold, src, payload, grid, share)


# -- on the client -----------------------------------------------------------------------------
class _Plan:
    """The snapshot, its slices and a schema-only source for checks and the combine step."""

    def __init__(self, fold: Fold, store: Any, scheduler: Any, *, as_of: Any, known_at: Any, streams: Any) -> None:
        check_scheduler(scheduler)
        self.snap = take_snapshot(store, known_at=known_at, stream_type=fold.stream_type, streams=streams)
        self.parts = split(self.snap, TASKS_PER_WORKER * worker_count(scheduler))
        self.spec = dict(stream_type=fold.stream_type, as_of=as_of, streams=streams)
        # No files, no rows: binds the store's whole schema without reading a Parquet footer.
        self.schema_part = part_of(self.snap, [], self.snap.hot.slice(0, 0))

    @contextmanager
    def checked_source(self, fold: Fold, store: Any) -> Iterator[Source]:
        """open_source over the schema-only slice, with the fold validated as a local run does."""
        with open_source(self.schema_part, **self.spec) as src:
            src.store = store  # the selector checks look at everything the store holds
            fold.prepare(src)
            yield src


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive")


def fold_state(fold: Fold, store: Any, *, scheduler: Any, as_of: Any = None, known_at: Any = None,
               streams: Any = None) -> pd.DataFrame:
    """:meth:`Fold.state` on a Dask cluster: the same frame as the local fold."""
    plan = _Plan(fold, store, scheduler, as_of=as_of, known_at=known_at, streams=streams)
    with plan.checked_source(fold, store) as src:
        tables = _run(scheduler, _state_task, plan.parts, fold, plan.spec)
        src.con.register("_ek_parts", _concat(tables))
        return src.con.sql(state_combine_sql(fold, src.schema, "_ek_parts")).df()


def fold_series(fold: Fold, store: Any, *, scheduler: Any, kind: str, every: Any, start: Any, end: Any,
                streams: Any, as_of: Any, known_at: Any, tz: Any, max_rows: int | None) -> pd.DataFrame:
    """:meth:`Fold.snapshots` (``kind="dense"``) or :meth:`Fold.changes` on a Dask cluster."""
    from eventkit.fold.series import (changes_sql, check_budget, cut_as_of, dense_sql, finish_frame,
                                      make_grid, to_frame)

    grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
    plan = _Plan(fold, store, scheduler, as_of=cut_as_of(as_of, grid), known_at=known_at, streams=streams)
    with plan.checked_source(fold, store) as src:
        results = _run(scheduler, _series_task, plan.parts, fold, plan.spec, grid)
        src.con.register("_ek_parts", _concat([r[0] for r in results]))
        if kind == "changes":
            return finish_frame(to_frame(src.con.sql(changes_sql(fold, src, grid, b_from="_ek_parts"))),
                                grid, "changes")
        n, k0, k1, sum_k0 = src.con.sql(
            "SELECT count(*), min(_k0), max(_k1), sum(_k0) FROM (SELECT min(_k) AS _k0, max(_k) AS _k1 "
            "FROM _ek_parts GROUP BY stream_id)").fetchall()[0]
        last_k = 0
        if n:  # as eventkit.fold.series.size_of, from the buckets instead of a scan
            last_k = int(grid.k_end if grid.k_end is not None else k1)
            check_budget(int(n), int(last_k - k0 + 1), int(n * (last_k + 1) - sum_k0), max_rows, every)
        horizon = _horizon(grid, known_at, max(r[1] for r in results),
                           max((r[2] for r in results if r[2] is not None), default=None))
        sql = dense_sql(fold.fields, src, grid, last_k=last_k, horizon=horizon, b_from="_ek_parts")
        return finish_frame(to_frame(src.con.sql(sql)), grid, "dense")


def _horizon(grid: Any, known_at: Any, high: int, recorded: Any) -> Any:
    """As :func:`eventkit.fold.series.horizon`, from the tasks' high-water marks."""
    known = parse_known_at(known_at)
    now = _dt.datetime.now(_dt.timezone.utc)
    if grid.kind == "events":
        return high
    if isinstance(known, _dt.datetime):
        return known
    if known is not None:
        return recorded.astimezone(_dt.timezone.utc) if recorded is not None else now
    return now


def python_changes(fold: Any, store: Any, scheduler: Any, *, spec: dict[str, Any], payload: list[str],
                   grid: Any, fold_part: Any) -> list[tuple]:
    """A Python fold's rows from Dask tasks, each folding the streams of one hash share.

    ``spec`` is the local run's (``known_at`` already pinned to its snapshot's position);
    ``fold_part`` is :func:`eventkit.fold.python_fold.fold_part` (passed in: that module calls this one).
    """
    check_scheduler(scheduler)
    snap = take_snapshot(store, known_at=spec["known_at"], stream_type=spec["stream_type"], streams=spec["streams"])
    whole = part_of(snap, snap.segments, snap.hot)
    task_spec = {k: v for k, v in spec.items() if k != "known_at"}
    n = TASKS_PER_WORKER * worker_count(scheduler)
    futures = [scheduler.submit(_python_task, whole, fold, task_spec, payload, grid, (i, n), fold_part,
                               pure=False)
               for i in range(n)]
    return [row for rows in scheduler.gather(futures) for row in rows]
