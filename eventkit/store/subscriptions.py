"""Event-driven consumers: catch-up subscriptions, exactly-once projections, and ``follow``.

A consumer reads the log in position order, in batches (pandas DataFrames with the envelope,
``metadata`` and one column per payload field, exactly as :meth:`Store.read_all` returns them,
upcasts applied), and keeps a durable **checkpoint** (the last position it has dealt with) in the
catalog's ``checkpoints`` table. Restarted, it continues after its checkpoint.

Delivery guarantees:

- :class:`Subscription` — **at least once**. The checkpoint moves after the handler returns, so
  a crash between the two hands the same batch to the handler again after a restart. Make the
  handler idempotent (e.g. key what it writes by ``event_id``) or use a projection.
- :class:`Projection` — **exactly once** in its read model. The handler returns rows; they are
  written to a new Parquet file named by the batch's position range (``part-<from>-<to>``), and
  then *one* catalog transaction moves the checkpoint from ``<from>`` to ``<to>``. The read model
  is the chain of part files up to the checkpoint; a file beyond it (written, never committed)
  is deleted at the next start. So a crash anywhere never applies an event twice or skips one.

Example:
    >>> sub = store.subscribe(lambda batch: print(len(batch)), name="printer")
    >>> sub.run_once()                                   # catch up to the head; returns events seen
    >>> balances = store.project(
    ...     lambda b: b.loc[b.event_type == "Deposited", ["event_id", "stream_id", "amount"]],
    ...     name="deposits")
    >>> balances.run_once(); balances.df()               # a DataFrame; balances.files for DuckDB
    >>> for batch in store.follow(timeout=60):           # a live notebook cell: new events as they come
    ...     print(batch[["position", "event_type"]])
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eventkit.store.envelope import check_name
from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.read_snapshot import parquet_scan
from eventkit.common.sql import quote_ident

# The Store facade (eventkit.store.event_store) passes itself in. It is not imported: it sits above this
# module in the store layer and imports point down.
Store = Any

try:  # POSIX advisory locks; released by the OS when a process dies, however it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

Handler = Callable[[pd.DataFrame], Any]
PROJECTIONS_DIR = "projections"
_PART = re.compile(r"^part-(\d{20})-(\d{20})\.parquet$")


class CheckpointConflict(StoreError):
    """Another consumer moved this consumer's checkpoint: two processes run the same name."""


# -- checkpoints ------------------------------------------------------------------------------------


def read_checkpoint(store: Store, name: str) -> int:
    """The position a consumer has dealt with (0 when it has never run)."""
    with store._catalog.read() as tx:
        return store._catalog.checkpoint(tx, name)


def move_checkpoint(store: Store, name: str, old: int, new: int) -> None:
    """Move checkpoint ``name`` from ``old`` to ``new`` in one catalog transaction (compare and set)."""
    catalog = store._catalog
    with catalog.write() as tx:
        current = catalog.checkpoint(tx, name)
        if current != old:
            raise CheckpointConflict(
                f"checkpoint {name!r} is at {current}, not {old}: another process is consuming under the "
                "same name; give each consumer its own name")
        catalog.set_checkpoint(tx, name, new)


def checkpoints(store: Store) -> pd.DataFrame:
    """Every consumer's checkpoint: name, position, updated_at."""
    with store._catalog.read() as tx:
        rows = store._catalog.checkpoints(tx)
    df = pd.DataFrame(rows, columns=["name", "position", "updated_at"])
    df["updated_at"] = pd.to_datetime(df["updated_at"], unit="s", utc=True)
    return df


def _check_name(name: Any, what: str) -> str:
    # One rule for every name that becomes a folder or file (see _envelope.check_name).
    return check_name(name, f"a {what} name", names="a folder and a checkpoint")


def _types(values: Any, what: str) -> list[str] | None:
    if values is None:
        return None
    out = [values] if isinstance(values, str) else list(values)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise InvalidInput(f"{what} must be names (strings)", column=what, values=bad)
    return out


class _Reader:
    """Batches of events after a position, in position order, with the position they reach."""

    def __init__(self, store: Store, event_types: Any, stream_types: Any, batch_size: int) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidInput("batch_size must be a positive int", values=[batch_size])
        self.store = store
        self.event_types = _types(event_types, "event_types")
        self.stream_types = _types(stream_types, "stream_types")
        self.batch_size = batch_size

    def batches(self, after: int, head: int | None = None) -> Iterator[tuple[pd.DataFrame, int]]:
        """Yield ``(events, upto)`` until ``head`` (default: the head now); ``upto`` is the new checkpoint.

        A short batch reaches the head, so a filtered consumer's checkpoint still moves past the
        events it does not want.
        """
        head = self.store.head if head is None else head
        while after < head:
            frame = self.store.read_all(from_position=after + 1, to_position=head, event_types=self.event_types,
                                        stream_types=self.stream_types, limit=self.batch_size)
            upto = int(frame["position"].iloc[-1]) if len(frame) == self.batch_size else head
            yield frame, upto
            after = upto


# -- at-least-once subscriptions ------------------------------------------------------------------


class Subscription:
    """A catch-up consumer with a durable checkpoint; at-least-once delivery.

    Use :meth:`Store.subscribe` to make one.

    Args:
        store: The store.
        handler: ``handler(events)`` with a DataFrame batch, in position order; its return
            value is ignored. If it raises, the checkpoint stays before that batch.
        name: The checkpoint's name; one running consumer per name.
        event_types: Only these event types (None: all).
        stream_types: Only these stream types (None: all).
        batch_size: At most this many events per handler call.

    Example:
        >>> seen = []
        >>> sub = store.subscribe(seen.append, name="audit", event_types=["Deposited"])
        >>> sub.run_once()          # number of events handed to the handler
        >>> sub.position            # the durable checkpoint
    """

    def __init__(self, store: Store, handler: Handler, *, name: str, event_types: Any = None,
                 stream_types: Any = None, batch_size: int = 1000) -> None:
        if not callable(handler):
            raise InvalidInput(f"a subscription handler must be callable, not {handler!r}")
        self.store = store
        self.handler = handler
        self.name = _check_name(name, "subscription")
        self._reader = _Reader(store, event_types, stream_types, batch_size)

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, position={self.position})"

    @property
    def position(self) -> int:
        """The last position dealt with (durable)."""
        return read_checkpoint(self.store, self.name)

    def run_once(self) -> int:
        """Catch up to the store's head as of now; returns how many events the handler got."""
        n = 0
        after = self.position
        for frame, upto in self._reader.batches(after):
            if len(frame):
                self.handler(frame)
            move_checkpoint(self.store, self.name, after, upto)
            n, after = n + len(frame), upto
        return n

    def run(self, *, poll: float = 0.5, timeout: float | None = None) -> int:
        """Keep catching up, polling every ``poll`` s, until ``timeout`` s or Ctrl-C; returns events handled."""
        return _loop(self.run_once, poll, timeout)

    def reset(self, position: int = 0) -> None:
        """Set the checkpoint (0: replay everything at the next run)."""
        move_checkpoint(self.store, self.name, self.position, position)


def _loop(step: Callable[[], int], poll: float, timeout: float | None) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    total = 0
    try:
        while True:
            total += step()
            if deadline is not None and time.monotonic() >= deadline:
                return total
            wait = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
    except KeyboardInterrupt:  # stopping a live notebook cell is the normal way to end
        return total


# -- exactly-once projections ---------------------------------------------------------------------


class Projection:
    """A read model kept as Parquet under ``<store>/projections/<name>/``; exactly-once.

    The handler turns a batch of events into rows (a DataFrame, a pyarrow Table, a list of
    dicts, or None for no rows). Each batch's rows are written to ``part-<from>-<to>.parquet``
    (positions after ``from`` up to ``to``) and then one catalog transaction moves the
    checkpoint ``projection:<name>`` from ``from`` to ``to``. Files beyond the checkpoint were
    never committed and are deleted when the projection next runs; so after any crash the read
    model holds every event's rows exactly once. Small parts are merged now and then (same rows).

    With ``key=`` the read model is a table keyed by those columns: a later row replaces an
    earlier one with the same key (an upsert). Without it, rows accumulate.

    Args:
        store: The store.
        handler: ``handler(events) -> rows``. To read the current model inside it, call
            :meth:`df` (it shows only committed batches).
        name: The projection's name (its folder and checkpoint).
        key: Column(s) identifying a row of the model; None: an append-only table.
        event_types: Only these event types.
        stream_types: Only these stream types.
        batch_size: At most this many events per handler call.
        compact_every: Merge the part files when there are more than this many.

    Example:
        >>> status = store.project(
        ...     lambda b: b[["stream_id", "event_type", "occurred_at"]].rename(columns={"event_type": "status"}),
        ...     name="account_status", key="stream_id")
        >>> status.run_once()
        >>> status.df()                                        # one row per account
        >>> duckdb.sql(f"SELECT * FROM read_parquet({status.files}, hive_partitioning = false)")  # any tool
    """

    def __init__(self, store: Store, handler: Handler, *, name: str, key: str | Sequence[str] | None = None,
                 event_types: Any = None, stream_types: Any = None, batch_size: int = 10_000,
                 compact_every: int = 32) -> None:
        if not callable(handler):
            raise InvalidInput(f"a projection handler must be callable, not {handler!r}")
        self.store = store
        self.handler = handler
        self.name = _check_name(name, "projection")
        self.key = [key] if isinstance(key, str) else (list(key) if key is not None else None)
        self.checkpoint_name = f"projection:{name}"
        self.path = Path(store.path) / PROJECTIONS_DIR / name
        self.compact_every = compact_every
        self._reader = _Reader(store, event_types, stream_types, batch_size)

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, position={self.position}, files={len(self.files)})"

    @property
    def position(self) -> int:
        """The last position whose rows are in the read model (durable)."""
        return read_checkpoint(self.store, self.checkpoint_name)

    # -- files ------------------------------------------------------------------------------------

    def _parts(self) -> list[tuple[int, int, Path]]:
        if not self.path.is_dir():
            return []
        out = []
        for p in self.path.iterdir():
            m = _PART.match(p.name)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), p))
        return sorted(out, key=lambda t: (t[0], -t[1]))

    def _chain(self, checkpoint: int) -> list[tuple[int, int, Path]]:
        """The committed files: up to the checkpoint, widest first at each start (merged parts win)."""
        chain, end = [], -1
        for first, last, p in self._parts():
            if last <= checkpoint and first >= end:
                chain.append((first, last, p))
                end = last
        return chain

    @property
    def files(self) -> list[str]:
        """The read model's Parquet files (committed ones only), for DuckDB, Polars, Spark..."""
        return [str(p) for _, _, p in self._chain(self.position)]

    def sql(self, query: str = "SELECT * FROM projection") -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the read model as the view ``projection``."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW projection AS {self._model_sql(self.files)}")
        return con.sql(query)

    def df(self) -> pd.DataFrame:
        """The read model as a DataFrame (committed batches only)."""
        return self.sql().df()

    def _model_sql(self, files: list[str]) -> str:
        if not files:
            return "SELECT NULL AS _empty WHERE false"
        scan = parquet_scan(files, filename=True, file_row_number=True)
        if self.key is None:
            return f"SELECT * EXCLUDE (filename, file_row_number) FROM {scan} ORDER BY filename, file_row_number"
        part = ", ".join(quote_ident(k) for k in self.key)
        return (f"SELECT * EXCLUDE (filename, file_row_number) FROM {scan} QUALIFY row_number() OVER "
                f"(PARTITION BY {part} ORDER BY filename DESC, file_row_number DESC) = 1 ORDER BY {part}")

    # -- running ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+") as fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise CheckpointConflict(f"projection {self.name!r} is being run by another process") from None
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def _recover(self, checkpoint: int) -> int:
        """Delete what a crash left: files beyond the checkpoint and half-written temporaries."""
        removed = 0
        keep = {p for _, _, p in self._chain(checkpoint)}
        for _, _, p in self._parts():
            if p not in keep:  # beyond the checkpoint (never committed), or merged into a wider part
                p.unlink(missing_ok=True)
                removed += 1
        for p in self.path.glob(".tmp-*"):
            p.unlink(missing_ok=True)
        return removed

    def run_once(self) -> int:
        """Catch up to the store's head as of now; returns how many events were projected."""
        with self._locked():
            after = self.position
            self.recovered = self._recover(after)
            n = 0
            for frame, upto in self._reader.batches(after):
                rows = self.handler(frame) if len(frame) else None
                table = self._table(rows)
                if table is not None and table.num_rows:
                    self._write(self.path / f"part-{after:020d}-{upto:020d}.parquet", table)
                self._before_commit(after, upto)
                move_checkpoint(self.store, self.checkpoint_name, after, upto)
                n, after = n + len(frame), upto
                if len(self._chain(after)) > self.compact_every:
                    self._compact(after)
            return n

    def run(self, *, poll: float = 0.5, timeout: float | None = None) -> int:
        """Keep the projection current, polling every ``poll`` s, until ``timeout`` s or Ctrl-C."""
        return _loop(self.run_once, poll, timeout)

    def reset(self) -> None:
        """Drop the read model and its checkpoint: the next run rebuilds it from the first event."""
        with self._locked():
            move_checkpoint(self.store, self.checkpoint_name, self.position, 0)
            for _, _, p in self._parts():
                p.unlink(missing_ok=True)

    def compact(self) -> None:
        """Merge the read model's files into one (the same rows)."""
        with self._locked():
            self._compact(self.position)

    def _before_commit(self, first: int, last: int) -> None:
        """Between writing a part and committing it (a seam for crash tests)."""

    def _table(self, rows: Any) -> pa.Table | None:
        if rows is None:
            return None
        if isinstance(rows, pa.Table):
            table = rows
        elif isinstance(rows, pd.DataFrame):
            table = pa.Table.from_pandas(rows, preserve_index=False)
        elif isinstance(rows, (list, tuple)):
            table = pa.Table.from_pylist(list(rows)) if rows else None
        else:
            raise InvalidInput(f"projection {self.name!r}: the handler returned {type(rows).__name__}; "
                               "return a DataFrame, a pyarrow Table, a list of dicts or None")
        if table is not None and self.key:
            missing = [k for k in self.key if k not in table.column_names]
            if missing:
                raise InvalidInput(f"projection {self.name!r}: the handler's rows lack key column(s) {missing}; "
                                   f"they have {table.column_names}", column=missing[0])
        return table

    def _write(self, target: Path, table: pa.Table) -> None:
        # Whole file or nothing: write a temporary, flush it to disk, then rename it into place.
        tmp = self.path / f".tmp-{uuid.uuid4().hex}"
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def _compact(self, checkpoint: int) -> None:
        chain = self._chain(checkpoint)
        if len(chain) < 2:
            return
        con = duckdb.connect()
        try:
            table = con.sql(self._model_sql([str(p) for _, _, p in chain])).to_arrow_table()
        finally:
            con.close()
        # The merged file covers the same positions as the chain, so it changes no content and
        # needs no catalog transaction: the chain rule prefers it once it exists.
        self._write(self.path / f"part-{chain[0][0]:020d}-{chain[-1][1]:020d}.parquet", table)
        for _, _, p in chain:
            p.unlink(missing_ok=True)


# -- follow ------------------------------------------------------------------------------------------


def follow(store: Store, handler: Handler | None = None, *, name: str | None = None, poll: float = 0.5,
           timeout: float | None = None, event_types: Any = None, stream_types: Any = None,
           batch_size: int = 1000, from_position: int | None = None) -> Any:
    """Tail new events: a generator of DataFrame batches, or call ``handler`` with each batch.

    Without ``name`` it starts at the head (only events appended from now on; ``from_position``
    starts elsewhere) and keeps no checkpoint. With ``name`` it resumes from that durable
    checkpoint and moves it after each batch (at-least-once). It stops after ``timeout`` seconds
    or on Ctrl-C (KeyboardInterrupt), quietly.

    Returns:
        A generator of DataFrames when ``handler`` is None; else the number of events handled.

    Example:
        >>> for batch in store.follow(timeout=30):             # in a live notebook cell
        ...     print(batch[["position", "stream_id", "event_type"]])
        >>> store.follow(lambda b: print(len(b)), name="ticker", timeout=10)
    """
    if name is not None:
        _check_name(name, "follow")
        if from_position is not None:
            raise InvalidInput("follow takes name= (resume from a checkpoint) or from_position=, not both")
    if handler is not None and not callable(handler):
        raise InvalidInput(f"follow's handler must be callable, not {handler!r}")
    reader = _Reader(store, event_types, stream_types, batch_size)
    if from_position is not None:
        start = max(int(from_position) - 1, 0)
    elif name is None:
        start = store.head
    else:
        start = None
    gen = _follow(store, reader, name, start, poll, timeout)
    if handler is None:
        return gen
    n = 0
    for frame in gen:
        handler(frame)
        n += len(frame)
    return n


def _follow(store: Store, reader: _Reader, name: str | None, after: int | None, poll: float,
            timeout: float | None) -> Iterator[pd.DataFrame]:
    deadline = None if timeout is None else time.monotonic() + timeout
    if after is None:
        after = read_checkpoint(store, name)  # type: ignore[arg-type]
    try:
        while True:
            for frame, upto in reader.batches(after):
                if len(frame):
                    yield frame
                if name is not None:  # the consumer has taken the batch: at-least-once
                    move_checkpoint(store, name, after, upto)
                after = upto
                if deadline is not None and time.monotonic() >= deadline:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        return


