"""The event store: append-only events in a catalog over immutable Parquet segments.

The store talks to its catalog through :class:`~eventkit.store.catalog_interface.CatalogBackend`
(picked by :func:`~eventkit.store.catalog_factory.open_catalog`) and to its files through
:class:`~eventkit.store.file_store.FileStore`. Everything above it reads through :meth:`Store.sql`,
:meth:`Store.connect` and the ``read_*`` methods.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import duckdb
import numpy as np

from eventkit.store import maintenance as _maintenance
from eventkit.store import resend as _resend
from eventkit.store.batches import HotBatch, arrow_batch_from_frame, hot_from_arrow, hot_from_events
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.file_store import FileStore, open_file_store
from eventkit.store.catalog_factory import open_catalog
from eventkit.store.stream_heads import AppendResult, check_expected, check_explicit_versions, resolve_stream_type
from eventkit.store.envelope import (
    ANY,
    Event,
    check_expected_version,
    check_name,
    check_text,
    generated_event_id,
    generated_position,
    micros_now,
    reconcile,
    to_micros,
)
from eventkit.common.errors import (
    InvalidInput,
    SealDeferredWarning,
    StoreError,
    did_you_mean,
    warn,
)
from eventkit.store.read_frames import Output, flat_query
from eventkit.store.read_snapshot import SharedDatabase, Snapshot, read_snapshot, utc_cursor
from eventkit.store.upcasting import Upcaster, Upcasters



def parse_known_at(known_at: Any) -> tuple[int | None, int | None]:
    """A transaction-time cut as (position, recorded_at micros): an int is a position."""
    if known_at is None:
        return None, None
    if isinstance(known_at, (bool, np.bool_)):
        raise InvalidInput("known_at must be a position (int), a datetime or an ISO string", values=[known_at])
    if isinstance(known_at, (int, np.integer)):
        return whole_number(known_at, "known_at"), None
    return None, to_micros(known_at, what="known_at")


def whole_number(value: Any, name: str, *, minimum: int = 0) -> int:
    """A position, version or limit argument as an int the catalog and DuckDB can hold (64 bits)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not (
        minimum <= int(value) < 2**63
    ):
        raise InvalidInput(f"{name} must be a whole number from {minimum} to 2**63 - 1", column=name, values=[value])
    return int(value)


def _time_range(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidInput(
            f"{name} must be a pair (start, end), either of which may be None", column=name, values=[value]
        )
    return value[0], value[1]


class Store:
    """An event store in a folder. Use :func:`open_store` to get one.

    Args:
        path: The store folder; created when missing.
        durability: ``"normal"``: an acknowledged append survives a killed process;
            ``"full"``: it also survives a power cut (fsync per commit, slower).
        seal_threshold: Hot-log size (events) past which an append seals the hot log.
        bulk_threshold: A frame with at least this many events becomes a segment directly.
        grace_seconds: How long replaced segment files stay for readers that still scan them. A
            setting of the store, kept in its catalog and obeyed by every process: giving it
            here changes it for the store (None: keep the store's, 900 s for a new store).
        create: Create the store when ``path`` holds none (default); False: raise StoreError.
        catalog: Where the catalog lives: None for ``catalog.sqlite`` in the folder, a
            ``postgresql://`` URL for a catalog shared by several hosts, or a catalog object.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        durability: Literal["normal", "full"] = "normal",
        seal_threshold: int = 100_000,
        bulk_threshold: int = 5_000,
        grace_seconds: float | None = None,
        create: bool = True,
        catalog: Any = None,
    ) -> None:
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root} is a file, not an eventkit store folder")
        #: The catalog seam: sequence, stream heads, ids, hot log, segment list, checkpoints, fold states.
        self._catalog: CatalogBackend = open_catalog(root, catalog, durability=durability, create=create)
        self.path = root.resolve()
        #: Where segment, fold-state and projection files live (the file store seam; this folder today).
        self.files: FileStore = open_file_store(self.path)
        self.durability = durability
        self.seal_threshold = seal_threshold
        self.bulk_threshold = bulk_threshold
        self._upcasters = Upcasters()  # code, not data: registered per store object
        # Two DuckDB instances: the store's own reads never share one with the user's SQL, whose
        # SET, macros and tables (DuckDB settings are mostly global to an instance) must not
        # change or break what read_stream, read_all, folds and appends see.
        self._duckdb = SharedDatabase()
        self._user_duckdb = SharedDatabase(user=True)
        self._fields_cache: tuple[int, dict[str, str]] | None = None
        if grace_seconds is not None and grace_seconds != self.grace_seconds:
            self.grace_seconds = grace_seconds

    @property
    def grace_seconds(self) -> float:
        """How long files replaced by compaction stay for running readers, in seconds.

        A property of the store (kept in the catalog), so a maintenance process cannot delete
        files under readers in other processes by using a shorter one. A read that runs longer
        than this after a compaction may fail with a StoreError ("snapshot has expired").
        """
        with self._catalog.read() as conn:
            return self._catalog.grace_seconds(conn)

    @grace_seconds.setter
    def grace_seconds(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
            raise InvalidInput("grace_seconds must be a number of seconds >= 0", values=[seconds])
        with self._catalog.write() as conn:
            self._catalog.set_meta(conn, "grace_seconds", float(seconds))

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the store. Reads already running finish; any later call raises StoreError."""
        try:
            self._duckdb.close()
            self._user_duckdb.close()
        finally:
            self._catalog.close()

    # -- appending ------------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: Any = ANY,
        stream_type: str | None = None,
    ) -> AppendResult:
        """Append events to one stream, atomically.

        Args:
            stream_id: The entity the events belong to.
            events: One :class:`Event` or several.
            expected_version: ``ek.ANY``, ``ek.NO_STREAM``, ``ek.STREAM_EXISTS`` or the exact
                version the stream must be at (0 means "no stream").
            stream_type: The kind of entity; a new stream without one is ``"default"``.

        Returns:
            The positions taken and the stream's new version.

        Raises:
            WrongExpectedVersion: The stream is not at ``expected_version``; nothing was written.
            InvalidInput: Bad events; nothing was written.
            DuplicateEventId: An event id is already stored with other content.

        Example:
            >>> store.append("acct-1", [ek.Event("Deposited", {"amount": 10})],
            ...              expected_version=ek.NO_STREAM, stream_type="account").version
            1
        """
        check_expected_version(str(stream_id), expected_version)
        batch = hot_from_events(stream_id, events, stream_type)
        if not len(batch):
            raise InvalidInput(f"an append needs at least one event (stream {stream_id!r})")
        return self._append_hot(batch, {stream_id: expected_version})

    def append_frame(
        self,
        frame: Any,
        *,
        expected_versions: Any = None,
        stream_type: str | None = None,
    ) -> AppendResult:
        """Append a DataFrame or Arrow table of events for many streams, atomically.

        Envelope columns are taken by name: ``stream_id`` and ``event_type`` (required),
        ``stream_type``, ``occurred_at``, ``event_id``, ``version``, ``metadata`` (optional);
        every other column is a payload field. Rows are committed in frame order. A ``version``
        column gives explicit versions: strictly increasing within a stream and above its
        current version (gaps allowed).

        Args:
            frame: A pandas DataFrame or pyarrow Table.
            expected_versions: One expected version for every stream in the frame, or a mapping
                ``{stream_id: expected}``; streams not in the mapping accept any version.
            stream_type: Stream type for rows without one (and new streams).

        Returns:
            The positions taken and every touched stream's new version.
        """
        batch = arrow_batch_from_frame(frame)
        if stream_type is not None:
            check_name(stream_type, "stream_type")
        if isinstance(expected_versions, Mapping):
            for sid, ev in expected_versions.items():
                check_expected_version(str(sid), ev)
            expected = dict(expected_versions)
        else:
            check_expected_version("*", ANY if expected_versions is None else expected_versions)
            expected = {None: ANY if expected_versions is None else expected_versions}
        if len(batch) < self.bulk_threshold:
            hot = hot_from_arrow(batch)
            if stream_type is not None:
                hot.stream_types = [t or stream_type for t in hot.stream_types]
            return self._append_hot(hot, expected)
        return _maintenance.append_bulk(self, batch, expected, stream_type)

    def _append_hot(self, batch: HotBatch, expected: dict[Any, Any]) -> AppendResult:
        n = len(batch)
        order: dict[str, list[int]] = {}
        for i, sid in enumerate(batch.stream_ids):
            order.setdefault(sid, []).append(i)
        with self._catalog.write() as conn:
            if batch.ids_supplied:
                def describe(rows: list[int]) -> list[tuple[str, str, dict]]:
                    return [(batch.stream_ids[i], batch.event_types[i], json.loads(batch.data_json[i] or "{}")) for i in rows]

                dup = self._existing_append(conn, batch.event_ids, describe)
                if dup is not None:
                    return dup
            state = self._catalog.log_state(conn)
            self._merge_fields(conn, batch.field_types, state)
            heads = self._catalog.stream_heads(conn, list(order))
            head = state["head"]
            recorded = max(micros_now(), state["last_recorded"])
            versions: list[int] = [0] * n
            stypes: list[str] = [""] * n
            new_heads = []
            for sid, rows in order.items():
                existing_type, current = heads.get(sid, (None, 0))
                stype = resolve_stream_type(sid, existing_type, {batch.stream_types[i] for i in rows})
                check_expected(sid, expected, current)
                if batch.versions is not None:
                    vs = [batch.versions[i] for i in rows]
                    check_explicit_versions(sid, current, vs)
                else:
                    vs = range(current + 1, current + 1 + len(rows))
                for i, v in zip(rows, vs):
                    versions[i], stypes[i] = v, stype
                new_heads.append((sid, stype, versions[rows[-1]], head + 1 + rows[-1]))
            prefix = self._catalog.id_prefix
            rows_out = [
                (
                    head + 1 + i, batch.stream_ids[i], stypes[i], versions[i], batch.event_types[i],
                    batch.event_ids[i] or generated_event_id(prefix, head + 1 + i),
                    batch.occurred[i] if batch.occurred[i] is not None else recorded, recorded,
                    batch.data_json[i], batch.meta_json[i],
                )
                for i in range(n)
            ]
            self._catalog.insert_hot(conn, rows_out)
            if batch.ids_supplied:
                self._catalog.add_event_ids(
                    conn, [(r[5], r[0]) for r, given in zip(rows_out, batch.event_ids) if given is not None])
            self._catalog.upsert_streams(conn, new_heads)
            hot_count = state["hot_count"] + n
            self._catalog.set_log_state(conn, head=head + n, last_recorded=recorded, hot_count=hot_count)
        if hot_count >= self.seal_threshold:
            self._auto_seal()
        return AppendResult(head + 1, head + n, {h[0]: h[2] for h in new_heads})

    def _auto_seal(self) -> None:
        """Seal after a committed append; a failure must not make the append look failed.

        The append is already committed: raising here would make a natural retry store its
        events twice. The hot log keeps them, and the next append past the threshold retries.
        """
        try:
            self.seal()
        except Exception as e:  # noqa: BLE001 - any failure (disk full, I/O, permissions) defers the seal
            warnings.warn(
                f"the append was committed, but sealing the hot log into segments failed and is deferred "
                f"to a later append ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                "the events are stored: do not re-send them",
                SealDeferredWarning, stacklevel=4,
            )

    def _merge_fields(self, conn: Any, incoming: dict[str, tuple[str, list]], state: dict[str, int]) -> dict[str, str]:
        """Reconcile incoming payload types with the store's schema, inside the write transaction.

        The schema is cached per store object and re-read only when ``fields_version`` (bumped by
        every schema change, from any process) moves.
        """
        if self._fields_cache is None or self._fields_cache[0] != state["fields_version"]:
            self._fields_cache = (state["fields_version"], self._catalog.fields(conn))
        fields = dict(self._fields_cache[1])
        _check_field_case(incoming, fields)
        changed: dict[str, str] = {}
        for name, (kind, samples) in incoming.items():
            merged = reconcile(name, fields.get(name), kind, values=samples)
            if merged != fields.get(name):
                fields[name] = changed[name] = merged
        if changed:
            self._catalog.set_fields(conn, changed)
            # The cache is only set after the transaction commits (a rollback must not keep it).
            self._catalog.set_meta(conn, "fields_version", state["fields_version"] + 1)
            self._fields_cache = None
        return fields

    def _existing_append(
        self, conn: Any, ids: Sequence[str | None], describe: Callable[[list[int]], list[tuple[str, str, dict]]]
    ) -> AppendResult | None:
        """The original result if this append is a re-send (see :func:`_resend.existing_append`)."""
        found = _resend.existing_append(self._catalog, conn, self.files, ids, describe)
        if found is None:
            return None
        first, last, versions = found
        return AppendResult(first, last, versions, duplicate=True)

    # -- reading --------------------------------------------------------------------------------

    def snapshot(self, *, known_at: Any = None, **prune: Any) -> Snapshot:
        """One consistent view of the store (see :class:`Snapshot`), optionally cut at known_at."""
        upto, recorded_cut = parse_known_at(known_at)
        with self._catalog.read() as conn:
            snap = read_snapshot(self._catalog, conn, self.files, upto=upto, recorded_cut=recorded_cut, **prune)
            snap.grace_seconds = self._catalog.grace_seconds(conn)
        db = self._duckdb.instance()  # bound now: a close() from another thread lets this read finish
        snap.cursor = lambda: utc_cursor(db)
        snap.live_files = self._live_files
        return self._upcasters.attach(snap)  # reads see current event shapes (see _upcast)

    def _live_files(self, files: list[str]) -> set[str]:
        """Which of ``files`` (absolute paths) are live segments of the store now."""
        with self._catalog.read() as conn:
            live = {self.files.url(s[1]) for s in self._catalog.live_segments(conn)}
        return {f for f in files if f in live}

    def connect(self, *, known_at: Any = None) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection whose view ``events`` is one consistent snapshot.

        Connections from ``connect`` and ``sql`` share one DuckDB instance (tables and macros
        made in one are seen by the next), separate from the one the store reads with: no
        ``SET``, macro or table of the user's changes the store's own reads.

        Args:
            known_at: Cut transaction time: a position (int), or a recorded_at time.
        """
        return self.snapshot(known_at=known_at).connect(self._user_duckdb.cursor())

    def sql(self, query: str, *, known_at: Any = None, params: Any = None) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the view ``events`` (one consistent snapshot).

        Example:
            >>> store.sql("SELECT stream_id, sum(data.amount) FROM events GROUP BY 1").df()
        """
        return self.connect(known_at=known_at).sql(query, params=params)

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        backwards: bool = False,
        known_at: Any = None,
        output: Output = "pandas",
    ) -> Any:
        """One stream's events in version order, with flat payload columns.

        Args:
            stream_id: The stream.
            from_version: First version to include.
            to_version: Last version to include.
            backwards: Newest first.
            known_at: Cut transaction time (position or recorded_at).
            output: ``"pandas"`` (a DataFrame) or ``"arrow"`` (a pyarrow Table).
        """
        check_text(stream_id, "stream_id")
        snap = self.snapshot(known_at=known_at, stream_id=stream_id)
        where, params = ["stream_id = ?"], [stream_id]
        if from_version is not None:
            where.append("version >= ?")
            params.append(whole_number(from_version, "from_version"))
        if to_version is not None:
            where.append("version <= ?")
            params.append(whole_number(to_version, "to_version"))
        order = "version DESC" if backwards else "version"
        out = flat_query(snap, where, params, order, None, output)
        if not len(out) and not self.stream_version(stream_id):
            self._warn_no_stream(stream_id)
        return out

    def _warn_no_stream(self, stream_id: str) -> None:
        """An empty read of a stream the store never had: say so, with the closest stream id."""
        with self._catalog.read() as conn:
            total = self._catalog.stream_count(conn)
            # difflib over every id would be slow: past 20,000 look among ids of about the same shape
            ids = self._catalog.stream_ids_like(conn, stream_id, limit=20_000)
        warn(f"no stream {stream_id!r} in the store ({total:,} streams){did_you_mean(stream_id, ids, shown=5)}")

    def read_all(
        self,
        *,
        from_position: int | None = None,
        to_position: int | None = None,
        event_types: Sequence[str] | None = None,
        stream_types: Sequence[str] | None = None,
        stream_ids: Sequence[str] | None = None,
        occurred_between: tuple[Any, Any] | None = None,
        recorded_between: tuple[Any, Any] | None = None,
        known_at: Any = None,
        limit: int | None = None,
        output: Output = "pandas",
    ) -> Any:
        """Events of every stream in position order, with flat payload columns.

        Args:
            from_position: First position to include.
            to_position: Last position to include.
            event_types: Only these event types.
            stream_types: Only these stream types.
            stream_ids: Only these streams.
            occurred_between: ``(start, end)`` on valid time, start inclusive, end exclusive;
                either may be None.
            recorded_between: The same on transaction time.
            known_at: Cut transaction time (position or recorded_at).
            limit: At most this many events.
            output: ``"pandas"`` or ``"arrow"``.
        """
        if from_position is not None:
            from_position = whole_number(from_position, "from_position")
        if limit is not None:
            limit = whole_number(limit, "limit")
        occurred_between = None if occurred_between is None else _time_range(occurred_between, "occurred_between")
        recorded_between = None if recorded_between is None else _time_range(recorded_between, "recorded_between")
        snap = self.snapshot(known_at=known_at, stream_types=stream_types, from_position=from_position)
        where: list[str] = []
        params: list[Any] = []
        if from_position is not None:
            where.append("position >= ?")
            params.append(from_position)
        if to_position is not None:
            where.append("position <= ?")
            params.append(whole_number(to_position, "to_position"))
        for column, values in (("event_type", event_types), ("stream_type", stream_types), ("stream_id", stream_ids)):
            if values is not None:
                values = [values] if isinstance(values, str) else list(values)
                where.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(values)
        for column, between in (("occurred_at", occurred_between), ("recorded_at", recorded_between)):
            if between is not None:
                start, end = between
                if start is not None:
                    where.append(f"{column} >= make_timestamp(?)::TIMESTAMPTZ")
                    params.append(to_micros(start, what=column))
                if end is not None:
                    where.append(f"{column} < make_timestamp(?)::TIMESTAMPTZ")
                    params.append(to_micros(end, what=column))
        return flat_query(snap, where, params, "position", limit, output)

    # -- facts ----------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The last committed position (0 for an empty store)."""
        with self._catalog.read() as conn:
            return self._catalog.meta_int(conn, "head")

    def stream_version(self, stream_id: str) -> int:
        """A stream's current version; 0 when it does not exist."""
        with self._catalog.read() as conn:
            return self._catalog.stream_heads(conn, [stream_id]).get(stream_id, (None, 0))[1]

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Those of ``event_ids`` the store holds: an index lookup in the catalog, no scan.

        Used by imports to skip rows stored by an earlier run.
        """
        ids = sorted(str(i) for i in event_ids)  # probes in key order: the index pages stay cached
        found: set[str] = set()
        with self._catalog.read() as conn:
            head = self._catalog.meta_int(conn, "head")
            for start in range(0, len(ids), 100_000):
                found.update(self._catalog.known_ids(conn, ids[start:start + 100_000]))
        own = self._catalog.id_prefix[:8]
        for event_id in (i for i in ids if i.startswith(own)):  # ids this store generated
            position = generated_position(self._catalog.id_prefix, event_id)
            if position is not None and position <= head:
                found.add(event_id)
        return found

    @property
    def fields(self) -> dict[str, str]:
        """The payload schema: field name -> DuckDB type."""
        with self._catalog.read() as conn:
            return self._catalog.fields(conn)

    def info(self) -> _maintenance.StoreInfo:
        """Streams, event types, counts, time range and size of the store."""
        return _maintenance.info(self)

    def seal(self) -> int:
        """Move every hot-log event into Parquet segments; returns how many moved."""
        return _maintenance.seal(self)

    def compact(self, *, target_events: int = 2_000_000, progress: bool = False) -> _maintenance.CompactResult:
        """Merge small segments into larger ones without changing any event."""
        return _maintenance.compact(self, target_events=target_events, progress=progress)

    def gc(self) -> list[str]:
        """Tidy the files: rewrite ``segments/_live.json``, then delete files that compaction replaced
        (once the store's grace period has passed) and files a crash left unrecorded.

        Returns:
            The removed files, relative to the store folder.

        Example:
            >>> store.gc()
            []
        """
        return _maintenance.gc(self)

    # -- consumers and upcasting -----------------------------------------------------------------
    # Thin delegates: the logic lives in _subscriptions and _upcast.

    def subscribe(self, handler: Any, *, name: str, event_types: Sequence[str] | None = None,
                  stream_types: Sequence[str] | None = None, batch_size: int = 1000) -> Any:
        """A catch-up consumer with a durable checkpoint, at-least-once (see :class:`eventkit.Subscription`).

        Example:
            >>> sub = store.subscribe(lambda batch: print(len(batch)), name="printer")
            >>> sub.run_once()
        """
        from eventkit.store.subscriptions import Subscription

        return Subscription(self, handler, name=name, event_types=event_types,
                            stream_types=stream_types, batch_size=batch_size)

    def project(self, handler: Any, *, name: str, key: str | Sequence[str] | None = None,
                event_types: Sequence[str] | None = None, stream_types: Sequence[str] | None = None,
                batch_size: int = 10_000) -> Any:
        """An exactly-once read model kept as Parquet in the store (see :class:`eventkit.Projection`).

        Example:
            >>> p = store.project(lambda b: b[["event_id", "stream_id"]], name="ids")
            >>> p.run_once(); p.df()
        """
        from eventkit.store.projections import Projection

        return Projection(self, handler, name=name, key=key, event_types=event_types,
                          stream_types=stream_types, batch_size=batch_size)

    def follow(self, handler: Any = None, *, name: str | None = None, poll: float = 0.5,
               timeout: float | None = None, **options: Any) -> Any:
        """Tail new events: a generator of DataFrame batches, or a handler per batch (see _subscriptions.follow).

        Example:
            >>> for batch in store.follow(timeout=30):
            ...     print(batch[["position", "event_type"]])
        """
        from eventkit.store.subscriptions import follow

        return follow(self, handler, name=name, poll=poll, timeout=timeout, **options)

    def checkpoints(self) -> Any:
        """Every consumer's durable checkpoint (name, position, updated_at) as a DataFrame."""
        from eventkit.store.subscriptions import checkpoints

        return checkpoints(self)

    def fold_states(self) -> Any:
        """The fold states saved in this store (see :meth:`eventkit.Fold.save_snapshot`)."""
        from eventkit.store.fold_state_files import listing

        return listing(self)

    def register_upcaster(self, upcaster: Upcaster) -> Upcaster:
        """Make reads see ``upcaster``'s event shape change (see :class:`eventkit.Upcaster`).

        Example:
            >>> store.register_upcaster(ek.Upcaster("Deposited", rename={"amt": "amount"}))
        """
        return self._upcasters.register(upcaster, self.fields)

    @property
    def upcasters(self) -> list[Upcaster]:
        """The registered upcasters, in the order they apply."""
        return self._upcasters.ordered()


def _check_field_case(incoming: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    """Refuse a payload field whose name differs from another only in case.

    DuckDB's struct field names are case-insensitive: ``Amount`` next to ``amount`` would make
    every later read of the store fail, so the second spelling is refused up front.
    """
    new = [name for name in incoming if name not in fields]
    if not new:  # the common case, kept cheap for stores with thousands of fields
        return
    seen = {name.lower(): name for name in fields}
    for name in new:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            where = "the store has" if other in fields else "this append also has"
            raise InvalidInput(
                f"payload field {name!r} differs only in case from field {other!r} ({where} it); "
                f"field names are case-insensitive in SQL: use {other!r} or another name",
                column=name, values=[name],
            )
def open_store(path: str | os.PathLike, *, create: bool = True, catalog: Any = None, **options: Any) -> Store:
    """Open the store in folder ``path``, creating it when missing.

    Args:
        path: A folder. A missing or empty folder becomes a new store (unless ``create=False``).
        create: False: only open an existing store, never make one (for reading: a typo in the
            path is an error, not a new empty store).
        catalog: None: the catalog is ``catalog.sqlite`` in the folder. A ``postgresql://`` URL:
            the catalog is kept in that PostgreSQL database (see the README, "Sharing a store").
        **options: See :class:`Store` (durability, seal_threshold, bulk_threshold, grace_seconds;
            the last is a setting of the store, kept in its catalog).

    Raises:
        StoreError: ``path`` is a file, a folder that is not a store, a store written by a
            newer eventkit, or (with ``create=False``) holds no store; or a new store cannot be
            created there. A store this process cannot write opens read-only: reads work, writes
            raise StoreError.

    Example:
        >>> store = ek.open_store("data/bank")
        >>> store = ek.open_store("data/bank", create=False)  # an existing store only
    """
    return Store(path, create=create, catalog=catalog, **options)
