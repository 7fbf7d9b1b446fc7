"""Exactly-once projections: a read model kept as Parquet part files under ``projections/<name>/`` in the
store's file store, each batch's file committed by one move of the projection's checkpoint (see
:mod:`.subscriptions`).

May use :mod:`eventkit.common`, :mod:`.read_snapshot` and :mod:`.subscriptions` (the reader, checkpoints
and the polling loop); the Store facade passes itself in (its ``files`` is the file store).
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from eventkit.common.errors import InvalidInput
from eventkit.common.sql import quote_ident
from eventkit.store.read_snapshot import parquet_scan
from eventkit.store.store_reads import seconds
from eventkit.store.subscriptions import (
    CheckpointConflict,
    EventBatches,
    Handler,
    check_consumer_name,
    check_stop,
    poll_seconds,
    move_checkpoint,
    read_checkpoint,
    run_loop,
)

# The Store facade (eventkit.store.event_store) passes itself in. It is not imported: it sits above this
# module in the store layer and imports point down.
Store = Any

try:  # POSIX advisory locks; released by the OS when a process dies, however it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PROJECTIONS_DIR = "projections"
PART_NAME = re.compile(r"^part-(\d{20})-(\d{20})\.parquet$")


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
        self.name = check_consumer_name(name, "projection")
        self.key = [key] if isinstance(key, str) else (list(key) if key is not None else None)
        self.checkpoint_name = f"projection:{name}"
        self.path = Path(store.path) / PROJECTIONS_DIR / name  # the run lock's folder (a local file)
        self._files = store.files  # the part files live in the store's file store
        _refuse_case_twin(self.name, self.path.parent, self._files)
        self._prefix = f"{PROJECTIONS_DIR}/{name}"
        self.compact_every = compact_every
        self._reader = EventBatches(store, event_types, stream_types, batch_size)

    def __repr__(self) -> str:
        return f"Projection({self.name!r}, position={self.position}, files={len(self.files)})"

    @property
    def position(self) -> int:
        """The last position whose rows are in the read model (durable)."""
        return read_checkpoint(self.store, self.checkpoint_name)

    # -- files ------------------------------------------------------------------------------------

    def _parts(self) -> list[tuple[int, int, str]]:
        """(first, last, path in the file store) of every part file, by first, widest first."""
        out = []
        for f in self._files.listing(self._prefix, suffix=".parquet"):
            m = PART_NAME.match(f.path.rpartition("/")[2])
            if m:
                out.append((int(m.group(1)), int(m.group(2)), f.path))
        return sorted(out, key=lambda t: (t[0], -t[1]))

    def _chain(self, checkpoint: int) -> list[tuple[int, int, str]]:
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
        return [self._files.url(p) for _, _, p in self._chain(self.position)]

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
                self._files.delete(p)
                removed += 1
        for p in self.path.glob(".tmp-*"):  # temporaries of a process killed while writing, when local
            p.unlink(missing_ok=True)
        return removed

    def run_once(self) -> int:
        """Catch up to the store's head as of now; returns how many events were projected."""
        with self._locked():
            after = self.position
            self.recovered = self._recover(after)
            n = 0
            kinds = self._kinds(self._chain(after))
            for frame, upto in self._reader.batches(after):
                rows = self.handler(frame) if len(frame) else None
                table = self._table(rows)
                if table is not None and table.num_rows:
                    self._check_kinds(table, kinds, after, upto)
                    self._write(f"{self._prefix}/part-{after:020d}-{upto:020d}.parquet", table)
                self._before_commit(after, upto)
                move_checkpoint(self.store, self.checkpoint_name, after, upto)
                n, after = n + len(frame), upto
                if len(self._chain(after)) > self.compact_every:
                    self._compact(after)
            return n

    def run(self, *, poll: float = 0.5, timeout: float | None = None, stop: threading.Event | None = None) -> int:
        """Keep the projection current, polling every ``poll`` s, until ``timeout`` s, Ctrl-C, or ``stop``
        (a ``threading.Event``) is set from another thread; returns events projected."""
        return run_loop(self.run_once, poll_seconds(poll), seconds(timeout, "timeout"), check_stop(stop))

    def reset(self) -> None:
        """Drop the read model and its checkpoint: the next run rebuilds it from the first event."""
        with self._locked():
            move_checkpoint(self.store, self.checkpoint_name, self.position, 0)
            for _, _, p in self._parts():
                self._files.delete(p)

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

    def _kinds(self, chain: list[tuple[int, int, str]]) -> dict[str, str]:
        """Column -> kind of value (see :func:`_kind`) in the committed part files (their footers only)."""
        kinds: dict[str, str] = {}
        for _, _, p in chain:
            for f in pq.read_schema(self._files.url(p)):
                kind = _kind(f.type)
                if kind is not None:
                    kinds.setdefault(f.name, kind)
        return kinds

    def _check_kinds(self, table: pa.Table, kinds: dict[str, str], after: int, upto: int) -> None:
        """Refuse a batch whose rows hold another kind of value in a column than the committed rows do:
        the read model (one scan of every part) would turn the column's every value, committed ones
        included, into one type (ints into text, booleans into ints). Numbers of any width mix."""
        for f in table.schema:
            kind = _kind(f.type)
            if kind is None:
                continue
            if kinds.get(f.name, kind) != kind:
                raise InvalidInput(
                    f"projection {self.name!r}: the handler returned {kind} values in column {f.name!r} for the events "
                    f"after position {after} up to {upto}, where the read model holds {kinds[f.name]} values; the model "
                    "would read every value of the column as one type. Return one kind of value per column (cast in "
                    "the handler), or change the handler and reset() the projection to rebuild it",
                    column=f.name, values=[str(f.type)])
            kinds[f.name] = kind

    def _write(self, target: str, table: pa.Table) -> None:
        # Whole file or nothing, durable before the checkpoint moves. A file of this name can only be
        # a leftover of the same batch (recovery removes uncommitted ones): replace it.
        self._files.delete(target)
        self._files.write_once(target, lambda local: pq.write_table(table, local, compression="zstd"), fsync=True)

    def _compact(self, checkpoint: int) -> None:
        chain = self._chain(checkpoint)
        if len(chain) < 2:
            return
        con = duckdb.connect()
        try:
            table = con.sql(self._model_sql([self._files.url(p) for _, _, p in chain])).to_arrow_table()
        finally:
            con.close()
        # The merged file covers the same positions as the chain, so it changes no content and
        # needs no catalog transaction: the chain rule prefers it once it exists.
        self._write(f"{self._prefix}/part-{chain[0][0]:020d}-{chain[-1][1]:020d}.parquet", table)
        for _, _, p in chain:
            self._files.delete(p)


def _kind(type_: pa.DataType) -> str | None:
    """The kind of value a column holds, as a projection must keep it from batch to batch (None: all missing)."""
    if pa.types.is_null(type_):
        return None
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "number"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return "text"
    if pa.types.is_dictionary(type_):
        return _kind(type_.value_type)
    if pa.types.is_boolean(type_):
        return "true/false"
    if pa.types.is_timestamp(type_):
        return "timestamp"
    for nested in ("struct", "list", "large_list", "map"):  # their fields may differ from batch to batch
        if getattr(pa.types, f"is_{nested}")(type_):
            return nested.removeprefix("large_")
    return str(type_)


# -- follow ------------------------------------------------------------------------------------------


def _refuse_case_twin(name: str, folder: Path, files: Any) -> None:
    """Refuse a projection name that differs from an existing projection's only in case.

    Each projection's part files live in a folder named after it: on a case-insensitive file system
    (macOS, Windows) ``Billing`` and ``billing`` would share one folder and mix their read models.
    """
    existing = {f.path.split("/")[1] for f in files.listing(PROJECTIONS_DIR, suffix=".parquet") if f.path.count("/") >= 2}
    if folder.is_dir():
        existing |= {p.name for p in folder.iterdir() if p.is_dir()}
    twins = sorted(e for e in existing if e != name and e.casefold() == name.casefold())
    if twins:
        raise InvalidInput(
            f"a projection named {name!r} would share its folder with the existing projection {twins[0]!r} on a "
            "case-insensitive file system (macOS, Windows), mixing their read models: use that name or another "
            "one that differs in more than case", values=[name, *twins])
