"""Consistent read snapshots: one catalog read transaction handed to DuckDB as an ``events`` view.

A snapshot is the high-water position, the live segment files and the hot-log rows up to it, all
read in one catalog read transaction, so a read never sees half of an append. DuckDB then scans
the Parquet segments (by their file store URLs) and the hot rows as one relation.

May use :mod:`eventkit.common`, :mod:`.catalog_interface` and :mod:`.file_store`.
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import duckdb
import pyarrow as pa

from eventkit.store.catalog_interface import CatalogBackend
from eventkit.common.errors import StoreError
from eventkit.store.file_store import FileStore
from eventkit.common.sql import quote_ident, quote_literal

_EMPTY = (
    "SELECT NULL::BIGINT AS position, NULL::VARCHAR AS stream_id, NULL::VARCHAR AS stream_type, "
    "NULL::BIGINT AS version, NULL::VARCHAR AS event_type, NULL::VARCHAR AS event_id, "
    "NULL::TIMESTAMPTZ AS occurred_at, NULL::TIMESTAMPTZ AS recorded_at, {data}"
    "NULL::MAP(VARCHAR, VARCHAR) AS metadata WHERE false"
)
ENVELOPE_SELECT = "position, stream_id, stream_type, version, event_type, event_id, occurred_at, recorded_at"


sql_literal = quote_literal  # the name the store's modules use


def parquet_scan(files: Sequence[str], *, union_by_name: bool = True, **options: bool) -> str:
    """``read_parquet([...])`` over ``files``, paths quoted, never taking columns from folder names.

    DuckDB's hive-partition detection reads ``key=value`` folders anywhere in a path as columns:
    a store under ``/lake/version=7/`` would see ``version`` overridden on every event. A store's
    files hold every column they mean, so detection is always off. ``union_by_name=False`` only
    for files known to share one schema (see :meth:`Snapshot.files_layout`).
    """
    listing = ", ".join(sql_literal(str(f)) for f in files)
    extra = "".join(f", {k} = {str(v).lower()}" for k, v in options.items())
    return f"read_parquet([{listing}], union_by_name = {str(union_by_name).lower()}, hive_partitioning = false{extra})"


def new_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


class SharedDatabase:
    """One in-memory DuckDB instance per store object, handing out a cursor per read.

    Opening a DuckDB instance costs 10-40 ms; a cursor costs about 0.1 ms, and cursors share the
    instance's Parquet metadata cache, so repeated reads of the same segments skip their footers.
    A forked child process gets its own instance (a DuckDB instance must not cross a fork).
    """

    def __init__(self, *, user: bool = False) -> None:
        self._db: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._user = user
        self._closed = False
        _LIVE.add(self)

    def instance(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB instance (started on first use); a StoreError once the store is closed."""
        if self._closed:
            raise StoreError("this store is closed; open it again with ek.open_store(path)")
        # Read once into a local: close() (or a fork check) in another thread may reset self._db at
        # any moment, and this call must then still return the instance it saw, never None.
        db = self._db
        if db is not None and self._pid != os.getpid():
            _abandon(self)
            db = None
        if db is None:
            db = duckdb.connect()
            # GLOBAL: a plain SET is the root connection's own, and every read runs on a cursor,
            # which then bound each query's segment files by parsing their footers again (15 ms of
            # CPU per query over 6 segments of 2M events, at each of a fold's several binds).
            db.execute("SET GLOBAL parquet_metadata_cache = true")
            self._db, self._pid = db, os.getpid()
        return db

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self.instance().cursor()
        if not self._user:
            cur.execute("SET TimeZone = 'UTC'")
            return cur
        # One round trip sets the session's zone and asks whether the user's SQL turned off file
        # access (a global setting that cannot be turned back on). The events view reads files,
        # so then later user SQL gets a new instance; relations still held on the old one keep
        # it alive until they go.
        if cur.execute("SET TimeZone = 'UTC'; SELECT current_setting('enable_external_access')").fetchall()[0][0]:
            return cur
        cur.close()
        self._db = None
        return self.cursor()

    def close(self) -> None:
        # The instance is not closed explicitly: that would break reads running in other threads
        # (and relations a caller still holds). Dropping the reference frees it once the last
        # cursor is gone; new reads are refused from now on.
        self._closed = True
        if self._db is not None and self._pid != os.getpid():
            _abandon(self)
        self._db = None


def utc_cursor(db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor on ``db`` with UTC as its time zone (shares the instance's caches)."""
    cur = db.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    return cur


_LIVE: weakref.WeakSet[SharedDatabase] = weakref.WeakSet()
_INHERITED: list[duckdb.DuckDBPyConnection] = []


def _abandon(shared: SharedDatabase) -> None:
    # A DuckDB instance inherited through fork() must never be released in the child: its
    # destructor joins worker threads that only exist in the parent, and hangs forever (seen
    # with PyFold's forked workers). Keep it referenced; forked workers leave with os._exit.
    _INHERITED.append(shared._db)  # type: ignore[arg-type]
    shared._db = None


def _after_fork_in_child() -> None:
    for shared in list(_LIVE):
        if shared._db is not None:
            _abandon(shared)


os.register_at_fork(after_in_child=_after_fork_in_child)


def file_problems(files: FileStore, paths: Sequence[str]) -> dict[str, str]:
    """Each segment of ``paths`` (relative to ``files``) that cannot be read as Parquet, by its URL,
    with the reason (only on an error path)."""
    import pyarrow.parquet as pq

    problems = {}
    for rel in paths:
        url = files.url(rel)
        if not files.exists(rel):
            problems[url] = "missing"
            continue
        try:
            pq.read_metadata(url)
        except Exception as e:  # noqa: BLE001 - whatever pyarrow says, the file is unreadable
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problems[url] = f"not a readable Parquet file (truncated or damaged: {first})"
    return problems


@dataclass
class Snapshot:
    """What one read sees: positions up to ``high_water`` (and recorded_at up to ``recorded_cut``).

    Attributes:
        high_water: The last position included.
        segments: The segment files to scan, relative to ``file_store`` (``files``: what DuckDB reads).
        hot: Hot-log rows (payload and metadata still JSON text).
        fields: The store's payload schema: field name -> DuckDB type.
        recorded_cut: A transaction-time cut in UTC microseconds, or None.
        position_floor: Segments wholly before it were pruned (a ``from_position`` read).
    """

    high_water: int
    segments: list[str]
    hot: pa.Table
    fields: dict[str, str]
    file_store: FileStore | None = None
    recorded_cut: int | None = None
    needs_position_filter: bool = False
    # Set by the store when upcasters are registered (see _upcast): wraps the raw view's SQL.
    upcast: Callable[[str], str] | None = None
    # Set by the store: a new cursor on its DuckDB instance (shared metadata cache, no start-up).
    cursor: Callable[[], duckdb.DuckDBPyConnection] | None = None
    # Set by the store: which of some segment files are live now (to tell an expired snapshot
    # from a damaged store), and the store's grace period.
    live_files: Callable[[list[str]], set[str]] | None = None
    grace_seconds: float | None = None
    # Set by the store when personal fields are declared: columns the view adds after the envelope.
    extra_columns: str = ""

    @property
    def files(self) -> list[str]:
        """The segment files as DuckDB reads them (local paths or object URLs)."""
        if self.file_store is None:
            return list(self.segments)
        return [self.file_store.url(p) for p in self.segments]

    def explain(self, error: BaseException) -> BaseException:
        """A StoreError naming the segment files behind a failed read, or ``error`` when none is at fault."""
        if self.file_store is None:
            return error
        problems = file_problems(self.file_store, self.segments)
        if not problems:
            return error
        missing = [f for f, why in problems.items() if why == "missing"]
        live = self.live_files(missing) if (missing and self.live_files is not None) else set(missing)
        expired = [f for f in missing if f not in live]
        if expired and len(expired) == len(problems):
            grace = "" if self.grace_seconds is None else f" of {self.grace_seconds:g} s"
            return StoreError(
                f"this read's snapshot has expired: segment file {expired[0]} was replaced by a compaction and "
                f"removed after the store's grace period{grace}; run the read again (reads that run longer need "
                "a longer grace period: store.grace_seconds = ...)"
            )
        shown = "; ".join(f"{f}: {why}" for f, why in list(problems.items())[:3])
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        return StoreError(
            f"{len(problems)} segment file{'s' if len(problems) > 1 else ''} of the store cannot be read ({shown}{more}); "
            "the store is damaged: restore the file(s) from a backup"
        )

    def events_sql(self, *, typed_by_files: bool = False, same_schema: bool = False) -> str:
        """A SELECT producing the ``events`` relation: envelope columns, ``data``, ``metadata``.

        Args:
            typed_by_files: The segment files alone carry the store's whole schema and there are
                no hot rows (see :meth:`files_layout`): scan them without the typed empty
                relation. Any UNION stops DuckDB pushing ``data.<field>`` down into the Parquet
                scan, so a fold reading one payload field would read every field.
            same_schema: Moreover every file has that schema, column for column: scan them
                without ``union_by_name``, whose bind reads every file's footer (about 2.5 ms a
                file, at every query on the view) where one file's is enough.
        """
        parts = []
        if self.segments:
            scan = parquet_scan(self.files, union_by_name=not (typed_by_files and same_schema))
            parts.append(f"SELECT * FROM {scan}")
        if self.hot.num_rows:
            parts.append(
                f"SELECT {ENVELOPE_SELECT}, {hot_data_sql(self.fields)}metadata::JSON::MAP(VARCHAR, VARCHAR) AS metadata FROM _hot"
            )
        # An empty relation typed with the store's whole schema: it fixes the envelope types for
        # an empty snapshot and gives ``data`` every field of the store, even when the files this
        # snapshot scans (pruned, or cut in time) hold only some of them.
        if not (typed_by_files and self.files and not self.hot.num_rows):
            parts.append("SELECT * FROM _ek_empty")  # see connect(): typed once per schema
        body = " UNION ALL BY NAME ".join(parts)
        data_col = "data" if self.fields else "NULL::MAP(VARCHAR, VARCHAR) AS data"
        where = []
        if self.needs_position_filter:
            where.append(f"position <= {int(self.high_water)}")
        if self.recorded_cut is not None:
            where.append(f"recorded_at <= make_timestamp({int(self.recorded_cut)})::TIMESTAMPTZ")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        sql = f"SELECT {ENVELOPE_SELECT}, {data_col}, metadata FROM ({body}){clause}"
        return self.upcast(sql) if self.upcast is not None else sql

    def prepare(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection holding what :meth:`events_sql` reads, without the view.

        A query that inlines ``events_sql()`` binds the Parquet files once; through the view it
        would bind them twice (at CREATE VIEW and at the query), which wide schemas feel.
        """
        if con is None:
            con = self.cursor() if self.cursor is not None else new_connection()
        con.register("_hot", self.hot)
        con.register("_ek_empty", _typed_empty(self.fields, con))
        return con

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with this snapshot as the view ``events``."""
        con = self.prepare(con)
        try:
            layout = self.files_layout(con)
            sql = self.events_sql(typed_by_files=layout != "typed", same_schema=layout == "same")
            con.execute(f"CREATE OR REPLACE TEMP VIEW events AS {sql}")
        except duckdb.Error as e:
            explained = self.explain(e)
            if explained is e:
                raise
            raise explained from e
        return con

    def files_carry_schema(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the segment files alone give every column and payload field its store type.

        True for a sealed, compacted store read whole; False with hot rows, with files that
        lack a field (pruned or time-cut reads), or with very many files (binding them twice
        would cost more than the scan saves). Binding reads only cached Parquet footers.
        """
        return self.files_layout(con) != "typed"

    def files_layout(self, con: duckdb.DuckDBPyConnection) -> str:
        """How the ``events`` view can scan the segment files: ``"same"`` (every file has the
        store's whole schema, column for column: no ``union_by_name``), ``"union"`` (together
        they carry it, see :meth:`files_carry_schema`) or ``"typed"`` (the typed empty relation
        is needed). Each file's schema is read once per process (segment files never change).
        """
        if not self.files or self.hot.num_rows or len(self.files) > _PROBE_FILES:
            return "typed"
        want = dict(zip(*_columns(con.sql("SELECT * FROM _ek_empty"))))
        schemas = {_file_schema(con, f) for f in self.files}
        if None in schemas:
            return "typed"  # a damaged or missing file: the normal path explains it
        if len(schemas) == 1:
            got = {name: key for name, _, key in next(iter(schemas))}
            same = all(got.get(name) == _type_key(typ) for name, typ in want.items())
            return "same" if same else "typed"
        try:
            union = dict(zip(*_columns(con.sql(f"SELECT * FROM {parquet_scan(self.files)} LIMIT 0"))))
        except duckdb.Error:
            return "typed"
        for name, typ in want.items():
            have = union.get(name)
            if have is None or _type_key(have) != _type_key(typ):
                return "typed"
        return "union"


_PROBE_FILES = 500

# A segment file's schema, by its URL (and, for a local file, its size and modification time:
# a file damaged or replaced in place is read again). Segment files are written once under
# unique names, so an entry never goes stale; the dict is only kept from growing without end.
_FILE_SCHEMAS: dict[tuple, tuple] = {}


def _file_schema(con: duckdb.DuckDBPyConnection, url: str) -> tuple | None:
    """``((name, type, type key), ...)`` of one Parquet file, or None if it cannot be read."""
    if "://" in url:
        key: tuple = (url,)
    else:
        try:
            st = os.stat(url)
        except OSError:
            return None
        key = (url, st.st_size, st.st_mtime_ns)
    schema = _FILE_SCHEMAS.get(key)
    if schema is None:
        try:
            names, types = _columns(con.sql(f"SELECT * FROM {parquet_scan([url])} LIMIT 0"))
        except duckdb.Error:
            return None
        schema = tuple((n, str(t), _type_key(t)) for n, t in zip(names, types))
        if len(_FILE_SCHEMAS) >= 20_000:
            _FILE_SCHEMAS.clear()
        _FILE_SCHEMAS[key] = schema
    return schema


def _columns(rel: duckdb.DuckDBPyRelation) -> tuple[list[str], list[Any]]:
    return rel.columns, rel.types


def _type_key(typ: Any) -> Any:
    """A type, with struct fields as a set (the files' field order is the view's either way)."""
    if getattr(typ, "id", None) == "struct":
        return frozenset((n, _type_key(t)) for n, t in typ.children)
    return str(typ)


def hot_data_sql(fields: dict[str, str]) -> str:
    """The ``data`` struct of hot-log rows (JSON text) with the store's field types, as a select item.

    Bytes are base64 text in the hot log's JSON; ``json_transform`` would keep that text as the
    bytes, so BLOB fields are read as text and decoded.
    """
    if not fields:
        return ""
    blobs = [f for f, t in fields.items() if t == "BLOB"]
    if not blobs:
        return f"json_transform(data, {sql_literal(json.dumps(fields))}) AS data, "
    as_text = {f: ("VARCHAR" if t == "BLOB" else t) for f, t in fields.items()}
    parsed = f"json_transform(data, {sql_literal(json.dumps(as_text))})"
    members = ", ".join(
        f"{quote_ident(f)} := " + (f"from_base64(_d.{quote_ident(f)})" if t == "BLOB" else f"_d.{quote_ident(f)}")
        for f, t in fields.items()
    )
    # A lambda binds the parsed struct once; NULL data stays a NULL struct.
    return f"CASE WHEN data IS NULL THEN NULL ELSE list_transform([{parsed}], lambda _d: struct_pack({members}))[1] END AS data, "


_EMPTY_TABLES: dict[str, pa.Table] = {}


def _typed_empty(fields: dict[str, str], con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The empty ``events`` relation typed with the store's schema, as Arrow, made once per schema.

    Casting ``NULL`` to a struct of thousands of fields costs DuckDB a third of a second; a
    registered empty Arrow table of that type costs nothing per read.
    """
    key = json.dumps(fields)
    table = _EMPTY_TABLES.get(key)
    if table is None:
        struct = ", ".join(f"{quote_ident(f)} {t}" for f, t in fields.items())
        table = con.sql(_EMPTY.format(data=f"NULL::STRUCT({struct}) AS data, " if fields else "")).to_arrow_table()
        if len(_EMPTY_TABLES) >= 32:  # a process with many stores or schema changes: keep it small
            _EMPTY_TABLES.clear()
        _EMPTY_TABLES[key] = table
    return table


def _hot_table(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows)) if rows else [[] for _ in range(10)]
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "position": pa.array(cols[0], pa.int64()),
            "stream_id": pa.array(cols[1], pa.string()),
            "stream_type": pa.array(cols[2], pa.string()),
            "version": pa.array(cols[3], pa.int64()),
            "event_type": pa.array(cols[4], pa.string()),
            "event_id": pa.array(cols[5], pa.string()),
            "occurred_at": pa.array(cols[6], pa.int64()).cast(ts),
            "recorded_at": pa.array(cols[7], pa.int64()).cast(ts),
            "data": pa.array(cols[8], pa.string()),
            "metadata": pa.array(cols[9], pa.string()),
        }
    )


def read_snapshot(
    catalog: CatalogBackend,
    tx: Any,
    files: FileStore,
    *,
    upto: int | None = None,
    recorded_cut: int | None = None,
    stream_id: str | None = None,
    stream_types: Sequence[str] | None = None,
    from_position: int | None = None,
    hot_limit: int | None = None,
) -> Snapshot:
    """Read a snapshot inside an open catalog transaction, pruning what the filters rule out.

    Args:
        catalog: The store's catalog.
        tx: A transaction of ``catalog``, read or write.
        files: The store's file store (segment paths are relative to it).
        upto: A position cut (transaction time); None means the head.
        recorded_cut: A recorded_at cut in UTC microseconds.
        stream_id: Keep only segments and hot rows of this stream.
        stream_types: Keep only segments and hot rows of these stream types.
        from_position: Skip segments that end before it.
        hot_limit: Keep only the first this many hot rows (a ``read_all(limit=...)`` needs no more).
    """
    head = catalog.meta_int(tx, "head")
    hw = head if upto is None else min(head, upto)
    cuts = {"stream_id": stream_id, "from_position": from_position, "recorded_cut": recorded_cut}
    segs = catalog.read_segments(tx, upto=hw, **cuts)
    rows = catalog.hot_rows(tx, upto=hw, limit=hot_limit, **cuts)
    if stream_types is not None:
        wanted = set(stream_types)
        segs = [s for s in segs if s[4] in wanted]
        rows = [r for r in rows if r[2] in wanted]
    return Snapshot(
        high_water=hw,
        segments=[s[0] for s in segs],
        hot=_hot_table(rows),
        fields=catalog.fields(tx),
        file_store=files,
        recorded_cut=recorded_cut,
        needs_position_filter=any(s[2] > hw for s in segs),
    )
