"""Python folds: handlers per event type over a state object, for logic no reducer expresses.

Each stream folds on its own, in version order (the same order as declarative folds: see
:mod:`eventkit.fold.declarative`). A handler receives ``(state, event)`` and either mutates ``state`` and
returns None, or returns the new state. ``event`` is a light named tuple with the envelope
(``stream_id, version, position, event_type, occurred_at, recorded_at``) and every payload field
as attributes (a payload field whose name collides with the envelope is ``data_<name>``). It also has
``erased`` (True when the event lost a personal field to ``store.forget``) and ``erased_fields`` (a
tuple of the fields lost): False and ``()`` in a store without personal fields, so one handler runs on
both kinds of store. When the fold loads a personal field, each output row gets the column ``erased``
(see :mod:`eventkit.fold.erasure`): True when an event folded into it lost one of the personal fields
loaded (an erased name does not flag a fold that loads only the email).

Events stream out of DuckDB in Arrow record batches (``ORDER BY stream_id, version``) so memory
stays bounded; streams are split by ``hash(stream_id) % workers`` over forked worker processes,
each with its own connection on the same snapshot of the store (the parent pins ``known_at`` to
the snapshot's high-water position, so every worker sees the same events).

Example (functions):
    >>> def deposited(s, e): s["balance"] += e.amount
    >>> def withdrawn(s, e): s["balance"] -= e.amount
    >>> balance = ek.PyFold("balance", stream_type="account",
    ...                     initial=lambda: {"balance": 0},
    ...                     handlers={"Deposited": deposited, "Withdrawn": withdrawn})

Example (a class):
    >>> class Balance(ek.PyFold):
    ...     stream_type = "account"
    ...     def initial(self): return {"balance": 0, "largest": None}
    ...     @ek.on("Deposited")
    ...     def deposited(self, s, e):
    ...         s["balance"] += e.amount
    ...         s["largest"] = e.amount if s["largest"] is None else max(s["largest"], e.amount)
    >>> Balance().state(store)                                   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import functools
import gc
import keyword
import multiprocessing
import os
from collections import namedtuple
from typing import Any, Callable, Iterable, Mapping

from eventkit.fold.series import DEFAULT_MAX_ROWS
from eventkit.common.errors import InvalidFold
from eventkit.common.sql import quote_ident
from eventkit.fold.reducers import ENVELOPE_FIELDS

Handler = Callable[[Any, Any], Any]
_ENV = ("stream_id", "version", "position", "event_type", "occurred_at", "recorded_at")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_timedelta = _dt.timedelta
_AUTO_PARALLEL_EVENTS = 200_000  # below this, forking workers costs more than it saves
_ERASURE = {"erased": False, "erased_fields": ()}  # what an event of a store without personal fields says


def on(*event_types: str) -> Callable[[Handler], Handler]:
    """Mark a :class:`PyFold` method as the handler of one or more event types (``"*"``: any).

    Example:
        >>> @on("Deposited", "Refunded")
        ... def credit(self, state, event): state["balance"] += event.amount
    """
    if not event_types or not all(isinstance(t, str) for t in event_types):
        raise InvalidFold("@on() needs one or more event type names")

    def mark(fn: Handler) -> Handler:
        fn._ek_on = tuple(event_types)  # type: ignore[attr-defined]
        return fn

    return mark


class PyFold:
    """A fold written in Python: ``initial()`` state plus handlers per event type.

    Args:
        name: The fold's name (defaults to the class name for subclasses).
        stream_type: Fold only streams of this type (None: every stream).
        initial: A callable returning a fresh state (or a value, deep-copied per stream).
        handlers: Event type -> ``handler(state, event)``; ``"*"`` handles every event type that
            has no handler of its own. Events without a handler leave the state unchanged.
        columns: Payload fields to load (None: all). Fewer columns fold faster.
        result: ``result(state) -> mapping`` giving the output columns. Default: a dict state as
            is, a dataclass or named tuple as its fields, anything else as a column ``state``.

    Raises:
        InvalidFold: No initial state, or a handler that is not callable.
    """

    stream_type: str | None = None
    columns: Iterable[str] | None = None

    def __init__(self, name: str | None = None, *, stream_type: str | None = None,
                 initial: Any = None, handlers: Mapping[str, Handler] | None = None,
                 columns: Iterable[str] | None = None,
                 result: Callable[[Any], Mapping[str, Any]] | None = None) -> None:
        self.name = name or type(self).__name__
        if stream_type is not None:
            self.stream_type = stream_type
        if columns is not None:
            self.columns = list(columns)
        self._initial = initial
        self._result = result
        found: dict[str, Handler] = {}
        for klass in reversed(type(self).__mro__):
            for attr, fn in vars(klass).items():
                for t in getattr(fn, "_ek_on", ()):
                    found[t] = getattr(self, attr)
        found.update(handlers or {})
        for t, h in found.items():
            if not callable(h):
                raise InvalidFold(f"PyFold {self.name!r}: handler for {t!r} is not callable: {h!r}")
        if initial is None and type(self).initial is PyFold.initial:
            raise InvalidFold(f"PyFold {self.name!r} needs an initial state (initial=... or def initial)")
        self.handlers = found

    def initial(self) -> Any:
        """A fresh state for a new stream (override, or pass ``initial=``)."""
        init = self._initial
        return init() if callable(init) else copy.deepcopy(init)

    def result(self, state: Any) -> Mapping[str, Any]:
        """The output columns for a state (override, or pass ``result=``)."""
        if self._result is not None:
            return self._result(state)
        if isinstance(state, Mapping):
            return state
        if dataclasses.is_dataclass(state) and not isinstance(state, type):
            return dataclasses.asdict(state)
        if hasattr(state, "_asdict"):
            return state._asdict()
        return {"state": state}

    def __repr__(self) -> str:
        return f"PyFold({self.name!r}, stream_type={self.stream_type!r}, handlers={sorted(self.handlers)})"

    def state(self, store: Any, *, as_of: Any = None, known_at: Any = None, streams: Any = None,
              workers: int | None = None, scheduler: Any = None) -> Any:
        """The state of every stream, like :meth:`eventkit.Fold.state`.

        Args:
            workers: Processes to use (None: every core when there are many events; 1: in-process).
            scheduler: A ``dask.distributed.Client``: fold shares of the streams (by stream hash)
                on its workers instead (see :mod:`eventkit.fold.distributed`); the fold and its
                handlers must pickle (cloudpickle takes lambdas and notebook functions).

        Returns:
            DataFrame: ``stream_id``, the state's columns, ``version``, ``position``.
        """
        return run(self, store, grid=None, as_of=as_of, known_at=known_at, streams=streams,
                   workers=workers, scheduler=scheduler)

    def snapshots(self, store: Any, *, every: Any = "1D", start: Any = None, end: Any = None,
                  streams: Any = None, as_of: Any = None, known_at: Any = None, tz: str = "UTC",
                  max_rows: int | None = DEFAULT_MAX_ROWS, dense: bool | None = None,
                  workers: int | None = None, scheduler: Any = None) -> Any:
        """The dense series, like :meth:`eventkit.Fold.snapshots` (same grid, columns, budget)."""
        from eventkit.fold.series import cut_as_of, warn_dense_deprecated, make_grid

        warn_dense_deprecated(dense)
        if dense is False:
            return self.changes(store, every=every, start=start, end=end, streams=streams, as_of=as_of,
                                known_at=known_at, tz=tz, workers=workers, scheduler=scheduler)
        grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
        return run(self, store, grid=grid, as_of=cut_as_of(as_of, grid), known_at=known_at, streams=streams,
                   workers=workers, dense=True, max_rows=max_rows, every=every, scheduler=scheduler)

    def changes(self, store: Any, *, every: Any = "1D", start: Any = None, end: Any = None,
                streams: Any = None, as_of: Any = None, known_at: Any = None, tz: str = "UTC",
                workers: int | None = None, scheduler: Any = None) -> Any:
        """The change log, like :meth:`eventkit.Fold.changes` (time column ``changed_at``)."""
        from eventkit.fold.series import cut_as_of, make_grid

        grid = make_grid(every, start=start, end=end, as_of=as_of, tz=tz)
        return run(self, store, grid=grid, as_of=cut_as_of(as_of, grid), known_at=known_at, streams=streams,
                   workers=workers, dense=False, scheduler=scheduler)


def event_class(payload: Iterable[str], *, erased: bool = False) -> tuple[type, list[str]]:
    """A named tuple class for events, and the payload fields it carries, in order (then ``erased`` and
    ``erased_fields``, when asked for: the store has personal fields; otherwise they are class
    attributes, False and ``()``, costing nothing per event).

    ``occurred_at`` and ``recorded_at`` are held as epoch microseconds and become UTC datetimes
    only when a handler reads them: building a datetime per event cost more than the rest of the
    fold, and most handlers never look at the times.
    """
    attrs = list(_ENV)
    fields = []
    for f in payload:
        attr = f if f not in ENVELOPE_FIELDS and f not in attrs else f"data_{f}"
        if not attr.isidentifier() or keyword.iskeyword(attr) or attr.startswith("_"):
            continue  # unreachable as an attribute; such fields are skipped
        attrs.append(attr)
        fields.append(f)
    if erased and not any(a in attrs for a in _ERASURE):  # (a payload field of either name keeps its attribute)
        attrs += list(_ERASURE)
    base = namedtuple("Event", attrs)  # type: ignore[misc]
    # A payload field of the same name keeps its attribute (a class attribute here would shadow it).
    defaults = {a: v for a, v in _ERASURE.items() if a not in attrs}

    class Event(base):  # type: ignore[valid-type,misc]
        __slots__ = ()
        occurred_at = property(_time_at(4), doc="Valid time (UTC datetime).")
        recorded_at = property(_time_at(5), doc="Transaction time (UTC datetime).")

        def _asdict(self) -> dict[str, Any]:
            return {k: getattr(self, k) for k in self._fields}

        def __repr__(self) -> str:
            return "Event(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields) + ")"

    for name, value in defaults.items():
        setattr(Event, name, value)
    return Event, fields


def _time_at(i: int) -> Callable[[Any], Any]:
    def get(self: tuple) -> Any:
        us = self[i]
        return None if us is None else _EPOCH + _timedelta(microseconds=us)

    return get


def select_sql(relation: str, payload: list[str], k_sql: str | None, part: tuple[int, int] | None,
               k_filter: str, *, erased: bool = False, flag_sql: str | None = None) -> str:
    """The worker's query: its share of streams, in (stream_id, version) order.

    Times leave DuckDB as epoch microseconds (see :func:`event_class`). Columns: the event's, then
    ``erased`` and ``erased_fields`` (when asked for), ``_k`` (a series' bucket) and ``_ek_flag`` (``flag_sql``).
    """
    env = [("epoch_us(" + c + ")" if c in ("occurred_at", "recorded_at") else c) for c in _ENV]
    cols = ", ".join(env + [f"data.{quote_ident(f)}" for f in payload] + (list(_ERASURE) if erased else []))
    k = f", {k_sql} AS _k" if k_sql else ""
    k += f", {flag_sql} AS _ek_flag" if flag_sql else ""
    where = f" WHERE hash(stream_id) % {part[1]} = {part[0]}" if part and part[1] > 1 else ""
    inner = f"SELECT {cols}{k} FROM {relation}{where}"
    return f"SELECT * FROM ({inner}){k_filter} ORDER BY stream_id, version"


def default_workers(n_events: int, workers: int | None) -> int:
    if workers is not None:
        if workers < 1:
            raise InvalidFold(f"workers={workers!r}: need at least 1")
        return workers
    if n_events < _AUTO_PARALLEL_EVENTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return os.cpu_count() or 1


# -- running ------------------------------------------------------------------------------------
_JOB: dict[str, Any] | None = None  # what forked workers inherit (no pickling of folds/stores)
_BATCH_ROWS = 65_536


def run(fold: PyFold, store: Any, *, grid: Any, as_of: Any, known_at: Any, streams: Any,
        workers: int | None, dense: bool = False, max_rows: int | None = None, every: Any = None,
        scheduler: Any = None) -> Any:
    """Run a Python fold (state when ``grid`` is None, else snapshots) and build the frame."""
    global _JOB
    from eventkit.fold.sources import open_source

    if scheduler is not None:
        from eventkit.fold.distributed import check_scheduler

        check_scheduler(scheduler)

    spec = dict(stream_type=fold.stream_type, as_of=as_of, streams=streams)
    with open_source(store, known_at=known_at, **spec) as src:
        from eventkit.fold.selectors import check_fold_selectors

        check_fold_selectors(store, fold_name=fold.name, stream_type=fold.stream_type,
                             event_types=[("handler", t) for t in fold.handlers if t != "*"])
        payload = list(src.schema.payload)
        if fold.columns is not None:
            wanted = list(fold.columns)
            missing = [c for c in wanted if c not in src.schema.payload]
            if missing:
                raise InvalidFold(f"PyFold {fold.name!r}: columns {missing} are not payload fields "
                                  f"of the store ({payload})")
            payload = wanted
        n_events = 0
        if workers is None and scheduler is None:
            n_events = src.con.sql(f"SELECT count(*) FROM {src.relation}").fetchall()[0][0]
        n = default_workers(n_events, workers)
        end = None
        if grid is not None and dense:
            from eventkit.fold.series import horizon

            end = horizon(src, grid, known_at)
        if n == 1 and scheduler is None:
            changes = fold_part(fold, src, payload, grid, None)
        else:
            # Pin the snapshot: every worker reopens the store at this position.
            spec["known_at"] = src.known_position()
    if scheduler is not None:
        from eventkit.fold.distributed import python_changes

        changes = python_changes(fold, store, scheduler, spec=spec, payload=payload, grid=grid,
                                 fold_part=fold_part)
    elif n > 1:
        from concurrent.futures import ProcessPoolExecutor

        _JOB = dict(fold=fold, store=store, spec=spec, payload=payload, grid=grid, n=n)
        try:
            # fork: workers inherit the fold and the store, so handlers defined in a notebook or
            # as lambdas work; the parent's own DuckDB connection is closed before forking.
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(n, mp_context=ctx) as pool:
                changes = [row for part in pool.map(_worker, range(n)) for row in part]
        finally:
            _JOB = None
    return _assemble(changes, grid, dense, end=end, max_rows=max_rows, every=every)


def _worker(i: int) -> list[tuple]:
    from eventkit.fold.sources import open_source

    job = _JOB
    assert job is not None
    with open_source(job["store"], **job["spec"]) as src:
        src.con.execute("SET threads = 1")  # one process per core already
        return fold_part(job["fold"], src, job["payload"], job["grid"], (i, job["n"]))


def fold_part(fold: PyFold, src: Any, payload: list[str], grid: Any,
              part: tuple[int, int] | None) -> list[tuple]:
    """Fold this worker's streams. Returns (stream_id, k, row, version, position) tuples."""
    from eventkit.fold.erasure import erased_condition

    erased = all(c in src.schema.envelope for c in _ERASURE)  # a store with personal fields
    Event, fields = event_class(payload, erased=erased)
    erased = erased and list(_ERASURE) == list(Event._fields[len(_ENV) + len(fields):])
    lost = erased_condition([f for f in fields if f in src.personal], src) if erased else None
    flag_sql = f"coalesce({lost}, false)" if lost else None
    k_sql, k_filter = None, ""
    if grid is not None:
        k_sql = grid.k_sql()
        conds = ([f"_k <= {grid.k_end}"] if grid.k_end is not None else []) + (["_k >= 0"] if grid.clamp else [])
        k_filter = " WHERE " + " AND ".join(conds) if conds else ""
    sql = select_sql(src.relation, fields, k_sql, part, k_filter, erased=erased, flag_sql=flag_sql)
    reader = src.con.sql(sql).to_arrow_reader(_BATCH_ROWS)
    make = functools.partial(tuple.__new__, Event)
    n_ev = len(Event._fields)
    flag_at = None if flag_sql is None else n_ev + (grid is not None)
    out: list[tuple] = []
    # Millions of short-lived event tuples would trigger the cyclic garbage collector thousands
    # of times (each pass also walking every state built so far); reference counting frees the
    # events anyway, so the collector stays off for the fold and runs once afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if grid is None:
            _fold_states(fold, reader, make, n_ev, out, flag_at)
        else:
            _fold_series(fold, reader, make, n_ev, out, flag_at)
    finally:
        if was_enabled:
            gc.enable()
    return out


def _pylists(batch: Any, n: int) -> list[list]:
    """The batch's first ``n`` columns as Python lists, as cheaply as pyarrow allows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for i, col in enumerate(batch.columns[:n]):
        t = col.type
        if i in (0, 3) and len(col):
            # stream_id (sorted) and event_type repeat a lot: build each distinct string once
            # and share it, instead of one new str object per event.
            enc = pc.dictionary_encode(col)
            if isinstance(enc, pa.ChunkedArray):
                enc = enc.combine_chunks()
            values = enc.dictionary.to_pylist()
            out.append(list(map(values.__getitem__, enc.indices.to_numpy(zero_copy_only=False).tolist()))
                       if not enc.null_count else enc.to_pylist())
        elif col.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            out.append(col.to_numpy().tolist())  # faster than to_pylist for plain numbers
        elif pa.types.is_list(t) and batch.schema.names[i] == "erased_fields":
            out.append(list(map(tuple, col.to_pylist())))  # a tuple, as records and stores without personal fields give
        else:
            out.append(col.to_pylist())
    return out


def _flagged(row: Mapping[str, Any], flag: bool | None) -> dict[str, Any]:
    """An output row, with ``erased`` when the fold is flagged (unless the fold's own output has one)."""
    out = dict(row)
    if flag is not None and "erased" not in out:
        out["erased"] = flag
    return out


def _fold_states(fold: PyFold, reader: Any, make: Callable, n_ev: int, out: list[tuple],
                 flag_at: int | None = None) -> None:
    get = fold.handlers.get
    star = fold.handlers.get("*")
    initial, result = fold.initial, fold.result
    cur: Any = None
    state: Any = None
    ev: Any = None
    # A flagged fold: the streams with an event that lost a personal field the fold loads (a pass of its
    # own, so the loop below stays as lean for every other fold).
    hit: set[str] | None = set() if flag_at is not None else None
    for batch in reader:
        cols = _pylists(batch, n_ev)
        if hit is not None:
            hit.update(sid for sid, f in zip(cols[0], batch.column(flag_at).to_pylist()) if f)
        for ev_next in map(make, zip(*cols)):
            if ev_next[0] != cur:
                if cur is not None:
                    out.append((cur, None, _flagged(result(state), None if hit is None else cur in hit),
                                ev[1], ev[2]))
                cur = ev_next[0]
                state = initial()
            ev = ev_next
            h = get(ev[3], star)
            if h is not None:
                new = h(state, ev)
                if new is not None:
                    state = new
    if cur is not None:
        out.append((cur, None, _flagged(result(state), None if hit is None else cur in hit), ev[1], ev[2]))


def _fold_series(fold: PyFold, reader: Any, make: Callable, n_ev: int, out: list[tuple],
                 flag_at: int | None = None) -> None:
    cur: Any = None
    evs: list[Any] = []
    ks: list[int] = []
    fl: list[bool] | None = None
    for batch in reader:
        cols = _pylists(batch, n_ev)
        kcol = batch.column(n_ev).to_pylist()
        flags = batch.column(flag_at).to_pylist() if flag_at is not None else None
        for i, (ev, k) in enumerate(zip(map(make, zip(*cols)), kcol)):
            if ev[0] != cur:
                if cur is not None:
                    _stream_series(fold, cur, evs, ks, out, fl)
                cur, evs, ks, fl = ev[0], [], [], ([] if flags is not None else None)
            evs.append(ev)
            ks.append(k)
            if fl is not None:
                fl.append(flags[i])
    if cur is not None:
        _stream_series(fold, cur, evs, ks, out, fl)


def _apply(fold: PyFold, state: Any, ev: Any) -> Any:
    h = fold.handlers.get(ev[3], fold.handlers.get("*"))
    if h is not None:
        new = h(state, ev)
        if new is not None:
            return new
    return state


def _frozen(fold: PyFold, state: Any) -> dict[str, Any]:
    # The state keeps changing after this point; copy what could be mutated in place.
    return {k: (copy.deepcopy(v) if isinstance(v, (list, dict, set)) else v)
            for k, v in fold.result(state).items()}


def _stream_series(fold: PyFold, sid: str, evs: list[Any], ks: list[int], out: list[tuple],
                   flags: list[bool] | None = None) -> None:
    """Emit one row per bucket in which the stream changed (state after that bucket)."""
    if all(a <= b for a, b in zip(ks, ks[1:])):
        # Occurred-at agrees with version order: one pass, emit at each bucket's end.
        state = fold.initial()
        flag = False if flags is not None else None
        for i, ev in enumerate(evs):
            state = _apply(fold, state, ev)
            if flags is not None:
                flag = flag or flags[i]
            if i + 1 == len(evs) or ks[i + 1] != ks[i]:
                out.append((sid, ks[i], _flagged(_frozen(fold, state), flag), ev[1], ev[2]))
        return
    # A backdated event: the events up to point k are not a prefix of the version order, so fold
    # each point's subset from scratch (still in version order). Only such streams pay this.
    for k in sorted(set(ks)):
        state = fold.initial()
        last = None
        for ev, ek in zip(evs, ks):
            if ek <= k:
                state = _apply(fold, state, ev)
                last = ev
        flag = None if flags is None else any(f for f, ek in zip(flags, ks) if ek <= k)
        out.append((sid, k, _flagged(_frozen(fold, state), flag), max(e[1] for e, ek in zip(evs, ks) if ek <= k),
                    last[2] if last is not None else None))


def _assemble(changes: list[tuple], grid: Any, dense: bool, *, end: Any = None,
              max_rows: int | None = None, every: Any = None) -> Any:
    import pandas as pd

    keys: dict[str, None] = {}
    for c in changes:
        keys.update(dict.fromkeys(c[2]))
    cols = list(keys)
    data: dict[str, list] = {"stream_id": [c[0] for c in changes]}
    for key in cols:
        data[key] = [c[2].get(key) for c in changes]
    data["version"] = [c[3] for c in changes]
    data["position"] = [c[4] for c in changes]
    if grid is None:
        frame = pd.DataFrame(data, columns=["stream_id", *cols, "version", "position"])
        return frame.sort_values("stream_id", kind="stable").reset_index(drop=True)
    data["_k"] = [c[1] for c in changes]
    frame = pd.DataFrame(data).sort_values(["stream_id", "_k"], kind="stable").reset_index(drop=True)
    from eventkit.fold.grid import points
    from eventkit.fold.series import check_budget, finish_frame

    if dense and len(frame):
        last = grid.k_end if grid.k_end is not None else int(frame["_k"].max())
        first = frame.groupby("stream_id")["_k"].min()
        check_budget(len(first), int(last - first.min() + 1), int((last + 1 - first).sum()), max_rows, every)
        nxt = frame.groupby("stream_id")["_k"].shift(-1).fillna(last + 1).astype("int64")
        frame = frame.loc[frame.index.repeat(nxt - frame["_k"])]
        frame["_k"] = frame["_k"] + frame.groupby(level=0).cumcount()
    when = points(grid, frame["_k"].to_numpy(dtype="int64"))
    frame.insert(0, "as_of" if dense else "changed_at", when)
    if dense:
        frame["complete"] = (when <= (end if grid.kind == "events" else pd.Timestamp(end))) if len(frame) \
            else pd.Series([], dtype=bool)
    frame = frame.sort_values(["_k", "stream_id"], kind="stable").drop(columns="_k")
    return finish_frame(frame.reset_index(drop=True), grid, "dense" if dense else "changes")
