"""The store's read path: snapshots, :meth:`~eventkit.Store.sql`, ``read_stream`` and ``read_all``.

:class:`Reading` is a part of :class:`eventkit.store.event_store.Store` (its base class): every read
takes one snapshot (one catalog read transaction, :mod:`.read_snapshot`) and hands it to DuckDB.

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.catalog_interface`, :mod:`.file_store`,
:mod:`.read_snapshot`, :mod:`.read_frames`, :mod:`.sql_writes` and :mod:`.upcasting`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Literal, Sequence

import duckdb
import numpy as np

from eventkit.common.errors import InvalidInput, did_you_mean, warn
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.envelope import check_text, to_micros
from eventkit.store import point_reads as _point_reads
from eventkit.store.file_store import FileStore, LocalFolder
from eventkit.store.read_frames import Output, flat_query
from eventkit.store.sql_writes import refuse_writes_inside
from eventkit.store.integrity import FileGuard
from eventkit.store.shredding import Declarations, KeyRing, reveal_wrapper
from eventkit.store.read_snapshot import SharedDatabase, Snapshot, read_snapshot, utc_cursor
from eventkit.store.upcasting import Upcasters


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


def names(values: Any, name: str) -> list[str] | None:
    """A filter of envelope names (``event_types``, ``stream_ids``, ``stream_types``) as a list of text.

    One name or several; each must be text the store could hold (a NUL would end it early in the
    catalog's SQL, so ``"E\\x00"`` would match ``"E"``). Bytes or a number would otherwise iterate
    as something else, or fail deep in a query.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    elif isinstance(values, (bytes, bytearray)) or not isinstance(values, Iterable):
        raise InvalidInput(f"{name} must be a name or a list of names (strings)", column=name, values=[values])
    out = list(values)
    for value in out:
        check_text(value, name)
    return out


def yes_or_no(value: Any, name: str) -> bool:
    """A flag argument as a bool: ``"false"`` or None would otherwise be read by truthiness."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInput(f"{name} must be True or False", column=name, values=[value])
    return bool(value)


def seconds(value: Any, name: str) -> float | None:
    """A waiting time (``timeout``, ``poll``) in seconds: None (no limit) or a number >= 0, infinity included."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
        float(value) >= 0  # false for NaN
    ):
        raise InvalidInput(f"{name} must be a number of seconds >= 0 (or None: no limit)", column=name, values=[value])
    return float(value)


def _time_range(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidInput(
            f"{name} must be a pair (start, end), either of which may be None", column=name, values=[value]
        )
    return value[0], value[1]


class Reading:
    """Reading events: the read half of :class:`~eventkit.store.event_store.Store`."""

    _catalog: CatalogBackend
    files: FileStore
    _duckdb: SharedDatabase
    _user_duckdb: SharedDatabase
    _upcasters: Upcasters
    _file_guard: FileGuard
    _keyring: KeyRing
    _declarations: Callable[[Any, dict[str, int]], Declarations]  # provided by Proving

    stream_version: Callable[[str], int]  # provided by Store


    def snapshot(self, *, known_at: Any = None, **prune: Any) -> Snapshot:
        """One consistent view of the store (see :class:`Snapshot`), optionally cut at known_at."""
        upto, recorded_cut = parse_known_at(known_at)
        with self._catalog.read() as conn:
            snap = read_snapshot(self._catalog, conn, self.files, upto=upto, recorded_cut=recorded_cut, **prune)
            snap.grace_seconds = self._catalog.grace_seconds(conn)
            self._file_guard.check_files(self._catalog, conn, self.files, snap.segments)
            version, erased = self._catalog.personal_state(conn)
            declared = self._declarations(conn, {"personal_version": version})
        if declared:  # reads reveal personal fields (NULL once forgotten) and say which events lost some
            self._keyring.sync(erased)
            self._keyring.register(self._duckdb.instance())
            snap.extra_columns = ", erased, erased_fields"
        db = self._duckdb.instance()  # bound now: a close() from another thread lets this read finish
        snap.cursor = lambda: utc_cursor(db)
        snap.live_files = self._live_files
        snap = self._upcasters.attach(snap)  # reads see current event shapes (see _upcast)
        if declared:
            upcast, reveal = snap.upcast, reveal_wrapper(declared, snap.fields)
            snap.upcast = (lambda sql: reveal(upcast(sql))) if upcast is not None else reveal
        return snap

    def _records_guard(self, conn: Any, segment_paths: Sequence[str]) -> _point_reads.View | None:
        """What ``output="records"`` reads do inside their catalog transaction, as every snapshot does:
        check the segment files they will open, and reveal personal fields (see :data:`point_reads.Guard`)."""
        if segment_paths:
            self._file_guard.check_files(self._catalog, conn, self.files, segment_paths)
        version, erased = self._catalog.personal_state(conn)
        declared = self._declarations(conn, {"personal_version": version})
        if not declared:
            return None
        self._keyring.sync(erased)
        keyring = self._keyring
        return lambda records: _point_reads.reveal_personal(records, declared, keyring)

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
        snap = self.snapshot(known_at=known_at)
        cursor = self._user_duckdb.cursor()
        if snap.extra_columns:
            self._keyring.register(self._user_duckdb.instance())
        return snap.connect(cursor)

    def sql(self, query: str, *, known_at: Any = None, params: Any = None) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the view ``events`` (one consistent snapshot).

        Example:
            >>> store.sql("SELECT stream_id, sum(data.amount) FROM events GROUP BY 1").df()
        """
        if isinstance(query, str):
            if not query.strip():
                raise InvalidInput("the query is empty; give a SQL statement, e.g. SELECT count(*) FROM events")
            refuse_writes_inside(query, self.path)
            if isinstance(self.files, LocalFolder):
                refuse_writes_inside(query, self.files.root)
        return self.connect(known_at=known_at).sql(query, params=params)

    def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        to_version: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
        known_at: Any = None,
        output: Output | Literal["records"] = "pandas",
    ) -> Any:
        """One stream's events in version order, with flat payload columns.

        Args:
            stream_id: The stream.
            from_version: First version to include.
            to_version: Last version to include.
            backwards: Newest first.
            limit: At most this many events (with ``backwards``: the newest ones).
            known_at: Cut transaction time (position or recorded_at).
            output: ``"pandas"`` (a DataFrame), ``"arrow"`` (a pyarrow Table) or ``"records"``
                (a list of :class:`eventkit.RecordedEvent`: the operational path, answered from
                the catalog's hot log without DuckDB when the stream has no sealed events).

        Example:
            >>> store.read_stream("acct-1", backwards=True, limit=1, output="records")[0].version
            3
        """
        check_text(stream_id, "stream_id")
        backwards = yes_or_no(backwards, "backwards")
        if limit is not None:
            limit = whole_number(limit, "limit")
        if from_version is not None:
            from_version = whole_number(from_version, "from_version")
        if to_version is not None:
            to_version = whole_number(to_version, "to_version")
        if output == "records" and known_at is None and not self._upcasters.ordered() \
                and isinstance(self.files, LocalFolder):
            return _point_reads.stream_records(self._catalog, self.files.url, stream_id, from_version=from_version,
                                               to_version=to_version, backwards=backwards, limit=limit,
                                               guard=self._records_guard)
        snap = self.snapshot(known_at=known_at, stream_id=stream_id)
        where, params = ["stream_id = ?"], [stream_id]
        if from_version is not None:
            where.append("version >= ?")
            params.append(whole_number(from_version, "from_version"))
        if to_version is not None:
            where.append("version <= ?")
            params.append(whole_number(to_version, "to_version"))
        order = "version DESC" if backwards else "version"
        if output == "records":
            return _point_reads.records_from_arrow(flat_query(snap, where, params, order, limit, "arrow"), list(snap.fields))
        out = flat_query(snap, where, params, order, limit, output)
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
        output: Output | Literal["records"] = "pandas",
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
            limit: At most this many events: the cost grows with ``limit``, not with the log.
            output: ``"pandas"``, ``"arrow"`` or ``"records"`` (a list of
                :class:`eventkit.RecordedEvent`, answered from the catalog's hot log without
                DuckDB when the range holds no sealed events).

        Example:
            >>> page = store.read_all(from_position=101, limit=10, output="records")
        """
        if from_position is not None:
            from_position = whole_number(from_position, "from_position")
        if to_position is not None:
            to_position = whole_number(to_position, "to_position")
        if limit is not None:
            limit = whole_number(limit, "limit")
        event_types, stream_types, stream_ids = (names(event_types, "event_types"), names(stream_types, "stream_types"),
                                                 names(stream_ids, "stream_ids"))
        positions_only = (stream_types is None and stream_ids is None and occurred_between is None
                          and recorded_between is None and known_at is None and not self._upcasters.ordered())
        if output == "records" and positions_only:
            types = None if event_types is None else ([event_types] if isinstance(event_types, str) else list(event_types))
            records = None
            with self._catalog.read() as conn:
                if self._catalog.sealed_upto(conn) < (from_position or 1):
                    rows = self._catalog.hot_page(conn, from_position=from_position or 1, to_position=to_position,
                                                  event_types=types, limit=limit)
                    records = _point_reads.records_from_hot(rows, self._catalog.fields(conn) if rows else {})
                    view = self._records_guard(conn, [])
            if records is not None:  # revealed after the transaction: the key ring may read keys in its own
                return view(records) if view is not None else records
        occurred_between = None if occurred_between is None else _time_range(occurred_between, "occurred_between")
        recorded_between = None if recorded_between is None else _time_range(recorded_between, "recorded_between")
        # Only the first ``limit`` hot rows can be among the first ``limit`` events from a position.
        hot_limit = limit if positions_only and event_types is None else None
        snap = self.snapshot(known_at=known_at, stream_types=stream_types, from_position=from_position,
                             hot_limit=hot_limit)
        where: list[str] = []
        params: list[Any] = []
        if from_position is not None:
            where.append("position >= ?")
            params.append(from_position)
        if to_position is not None:
            where.append("position <= ?")
            params.append(to_position)
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
        if output == "records":
            return _point_reads.records_from_arrow(flat_query(snap, where, params, "position", limit, "arrow"),
                                                   list(snap.fields))
        return flat_query(snap, where, params, "position", limit, output)
