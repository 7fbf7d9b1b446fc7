"""Bulk appends, sealing, compaction and clean-up: the store's heavier write paths.

Each follows the same careful order: write new segment files first, then record them (and retire
what they replace) in one catalog transaction. A crash before the commit leaves the old state and
an orphan file that no snapshot lists; a crash after leaves the new state.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from eventkit.store import compaction_policy
from eventkit.store.stream_heads import AppendResult, check_expected, resolve_stream_type
from eventkit.store.crash_points import crash_point
from eventkit.store.envelope import generated_event_id_sql, micros_now
from eventkit.common.errors import InvalidInput, StoreError, VersionTaken
from eventkit.common.progress import progress_bar
from eventkit.store.tracking import advance as advance_checkpoint
from eventkit.store.segment_files import (
    SegmentInfo,
    SegmentStats,
    discard,
    record_segment,
    remove_orphans,
    write_manifest,
    write_segment,
)
from eventkit.store.read_snapshot import file_problems, new_connection, parquet_scan, read_snapshot, sql_literal
from eventkit.common.sql import quote_ident
from eventkit.store.store_info import StoreInfo, info  # noqa: F401 (re-exported: store facts)
from eventkit.store.chain_links import record_compaction, record_seal, record_segments
from eventkit.store.shredding import encrypt_table

if TYPE_CHECKING:
    from eventkit.store.batches import ArrowBatch

# The Store facade (eventkit.store.event_store) passes itself in. It is not imported: it sits above this
# module in the store layer and imports point down.
Store = Any


@dataclass
class _Layout:
    """Where each row of a bulk append goes, computed with numpy before the write lock."""

    stream_ids: list[str]  # distinct streams, sorted
    codes: np.ndarray  # row -> index into stream_ids
    counts: np.ndarray  # events per stream
    last_row: np.ndarray  # each stream's last row
    ordinal: np.ndarray  # row's 0-based rank within its stream, in frame order
    given_types: list[str | None]  # the stream_type each stream is given, if any
    first_version: np.ndarray | None  # explicit versions: each stream's first
    last_version: np.ndarray | None  # explicit versions: each stream's last
    segment_order: np.ndarray  # rows sorted by (stream_id, row): the segment's order


def _layout(table: pa.Table, has_versions: bool) -> _Layout:
    encoded = table.column("stream_id").combine_chunks().dictionary_encode()
    names = np.array(encoded.dictionary.to_pylist(), dtype=object)
    lexical = np.argsort(names)  # number streams in sorted order: one sort serves both needs below
    rank = np.empty(len(names), dtype=np.int64)
    rank[lexical] = np.arange(len(names))
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    stream_ids = names[lexical].tolist()
    k, n = len(stream_ids), len(codes)
    rows = np.arange(n, dtype=np.int64)
    counts = np.bincount(codes, minlength=k)
    # Rows grouped by stream in sorted order, frame order within: the segment's row order too.
    by_stream = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ordinal = np.empty(n, dtype=np.int64)
    ordinal[by_stream] = rows - starts[codes[by_stream]]
    last_row = by_stream[starts + counts - 1]
    given: list[str | None] = [None] * k
    if "stream_type" in table.column_names:
        types = table.column("stream_type").combine_chunks().dictionary_encode()
        tcodes = types.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, -1)
        named = tcodes >= 0
        np.minimum.at(lo, codes[named], tcodes[named])
        np.maximum.at(hi, codes[named], tcodes[named])
        mixed = np.flatnonzero((hi >= 0) & (lo != hi))
        if len(mixed):
            raise InvalidInput(
                f"stream {stream_ids[mixed[0]]!r} is given several stream types in one append", column="stream_type"
            )
        type_names = types.dictionary.to_pylist()
        given = [type_names[h] if h >= 0 else None for h in hi]
    first_version = last_version = None
    if has_versions:
        v = table.column("version").to_numpy().astype(np.int64, copy=False)[by_stream]
        same = codes[by_stream][1:] == codes[by_stream][:-1]
        bad = np.flatnonzero(same & (v[1:] <= v[:-1]))
        if len(bad):
            sid = stream_ids[codes[by_stream][bad[0] + 1]]
            raise InvalidInput(
                f"version column for stream {sid!r} must increase strictly: {v[bad[0] + 1]} follows {v[bad[0]]}",
                column="version", values=v[bad + 1].tolist(),
            )
        first_version, last_version = v[starts], v[starts + counts - 1]
    return _Layout(stream_ids, codes, counts, last_row, ordinal, given, first_version, last_version, by_stream)


def append_bulk(store: Store, batch: ArrowBatch, expected: dict[Any, Any], default_type: str | None,
                checkpoint: tuple[str, int] | None = None) -> AppendResult:
    """Append a large frame as new segment files (one per stream type) in one transaction.

    Versions, positions and the segment's sort order are computed with numpy, so the only heavy
    step under the write lock is DuckDB writing the Parquet file.
    """

    n = len(batch)
    table = batch.table
    cols = set(table.column_names)
    lay = _layout(table, batch.has_versions)
    written: list[SegmentInfo] = []
    con = new_connection()
    try:
        with store._catalog.write() as conn:
            if batch.ids_supplied:
                ids = table.column("event_id").to_pylist()

                def describe(rows: list[int]) -> list[tuple[str, str, dict]]:
                    part = table.take(pa.array(rows, pa.int64()))
                    payload = part.select(batch.payload).to_pylist() if batch.payload else [{}] * part.num_rows
                    return list(zip(part.column("stream_id").to_pylist(), part.column("event_type").to_pylist(), payload))

                dup = store._existing_append(conn, ids, describe)
                if dup is not None:
                    return dup
            advance_checkpoint(store._catalog, conn, checkpoint)
            state = store._catalog.log_state(conn)
            fields = store._merge_fields(conn, batch.field_types, state)
            heads = store._catalog.stream_heads(conn, lay.stream_ids)
            head = state["head"]
            recorded = max(micros_now(), state["last_recorded"])
            base = np.zeros(len(lay.stream_ids), dtype=np.int64)
            stypes: list[str] = []
            for i, sid in enumerate(lay.stream_ids):
                existing_type, current = heads.get(sid, (None, 0))
                stypes.append(resolve_stream_type(sid, existing_type, {lay.given_types[i] or default_type}))
                check_expected(sid, expected, current)
                if lay.first_version is not None and lay.first_version[i] <= current:
                    raise VersionTaken(sid, int(lay.first_version[i]), current)
                base[i] = current
            if lay.last_version is not None:
                final = lay.last_version
                versions_col = table.column("version")
            else:
                final = base + lay.counts
                versions_col = pa.array(base[lay.codes] + lay.ordinal + 1)
            type_names = sorted(set(stypes))
            type_code = np.array([type_names.index(t) for t in stypes], dtype=np.int32)
            out = table.drop_columns([c for c in ("version", "stream_type") if c in cols])
            out = out.append_column("position", pa.array(np.arange(head + 1, head + 1 + n, dtype=np.int64)))
            out = out.append_column("version", versions_col)
            out = out.append_column("stream_type", pa.DictionaryArray.from_arrays(
                pa.array(type_code[lay.codes]), pa.array(type_names)))
            out = out.take(pa.array(lay.segment_order))
            declared = store._declarations(conn, state)
            level = None
            if declared:  # personal fields are stored encrypted (see shredding)
                out, ciphertext = encrypt_table(store._catalog, conn, declared, out,
                                                pa.compute.cast(out.column("stream_type"), pa.string()))
                level = 1 if ciphertext else None  # see encrypt_table
            ts = f"make_timestamp({recorded})::TIMESTAMPTZ"
            generated = generated_event_id_sql(store._catalog.id_prefix, "i.position")
            event_id = f"coalesce(i.event_id, {generated})" if "event_id" in cols else generated
            occurred = f"coalesce(i.occurred_at, {ts})" if "occurred_at" in cols else ts
            metadata = "i.metadata::JSON::MAP(VARCHAR, VARCHAR)" if "metadata" in cols else "NULL::MAP(VARCHAR, VARCHAR)"
            data = ""
            if batch.payload:
                data = "struct_pack(" + ", ".join(
                    f"{quote_ident(f)} := i.{quote_ident(f)}::{fields[f]}" for f in batch.payload) + ") AS data, "
            select = (
                f"SELECT i.position, i.stream_id, i.stream_type::VARCHAR AS stream_type, i.version, i.event_type, "
                f"{event_id} AS event_id, {occurred} AS occurred_at, {ts} AS recorded_at, {data}{metadata} AS metadata "
                "FROM _out i"
            )
            occurred_range = _micros_range(table, recorded) if "occurred_at" in cols else (recorded, recorded)
            for t, name in enumerate(type_names):
                part = out if len(type_names) == 1 else out.filter(pa.compute.equal(
                    pa.compute.cast(out.column("stream_type"), pa.string()), name))
                con.register("_out", part)
                positions = part.column("position")
                stats = SegmentStats(
                    first_position=pa.compute.min(positions).as_py(), last_position=pa.compute.max(positions).as_py(),
                    event_count=part.num_rows, min_occurred=occurred_range[0], max_occurred=occurred_range[1],
                    min_recorded=recorded, max_recorded=recorded,
                )
                seg = write_segment(con, store.files, select, name, fsync=store.durability == "full", stats=stats,
                                    compression_level=level)
                written.append(seg)
                ids_of_type = [sid for sid, st in zip(lay.stream_ids, stypes) if st == name]
                record_segment(store._catalog, conn, seg, ids_of_type)
            record_segments(store._catalog, conn, written, recorded)  # the commit's link in the hash chain
            if batch.ids_supplied:
                given = pa.table({"event_id": table.column("event_id"),
                                  "position": pa.array(np.arange(head + 1, head + 1 + n, dtype=np.int64))})
                given = given.filter(pa.compute.is_valid(given.column("event_id")))
                store._catalog.add_event_ids(conn, zip(
                    given.column("event_id").to_pylist(), given.column("position").to_pylist()))
            last_positions = head + 1 + lay.last_row
            store._catalog.upsert_streams(conn, [
                (sid, stypes[i], int(final[i]), int(last_positions[i])) for i, sid in enumerate(lay.stream_ids)
            ])
            store._catalog.set_log_state(conn, head=head + n, last_recorded=recorded)
            crash_point("bulk.before_commit")
    except BaseException:
        for seg in written:
            discard(store.files, seg)
        raise
    finally:
        con.close()
    crash_point("bulk.after_commit")
    refresh_manifest(store)
    return AppendResult(head + 1, head + n, {sid: int(final[i]) for i, sid in enumerate(lay.stream_ids)})


def refresh_manifest(store: Store) -> None:
    """Rewrite ``segments/_live.json`` after a commit that changed the segment list.

    The commit is done: a failure here must not report it as failed (a retry would double it).
    The manifest is rewritten by the next such commit or by :func:`gc`; meanwhile it lists an
    older consistent set whose files stay (clean-up never removes a file the manifest lists).
    """
    try:
        with store._catalog.write() as conn:
            write_manifest(store._catalog, conn, store.files, fsync=store.durability == "full")
    except (OSError, StoreError) as e:
        warnings.warn(f"the commit is done, but the segment manifest for outside tools could not be "
                      f"rewritten ({e}); `eventkit gc` rewrites it", stacklevel=3)


def gc(store: Store) -> list[str]:
    """Rewrite the manifest, then delete replaced segment files past the grace period and orphans.

    Returns:
        The removed files (paths relative to the store).
    """
    catalog = store._catalog
    with catalog.write() as conn:
        write_manifest(catalog, conn, store.files)
        return remove_orphans(catalog, conn, store.files, grace_seconds=catalog.grace_seconds(conn))


def _hot_streams(hot: pa.Table, stream_type: str) -> list[str]:
    """The distinct streams of ``stream_type`` among hot-log rows."""
    of_type = hot.filter(pa.compute.equal(hot.column("stream_type"), stream_type))
    return pa.compute.unique(of_type.column("stream_id")).to_pylist()


def _micros_range(table: pa.Table, recorded: int) -> tuple[int, int]:
    """min/max occurred_at in UTC micros; rows without one occur when recorded."""
    occurred = table.column("occurred_at").cast(pa.int64())
    lo, hi = pa.compute.min_max(occurred).values()
    lo = recorded if lo.as_py() is None else lo.as_py()
    hi = recorded if hi.as_py() is None else hi.as_py()
    if occurred.null_count:
        lo, hi = min(lo, recorded), max(hi, recorded)
    return lo, hi


def seal(store: Store) -> int:
    """Move all hot-log rows into segments (one per stream type) in one transaction."""
    written: list[SegmentInfo] = []
    catalog = store._catalog
    try:
        with catalog.write() as conn:
            snap = read_snapshot(catalog, conn, store.files)
            if not snap.hot.num_rows:
                return 0
            snap.segments = []  # only the hot rows
            con = snap.connect()
            # With no payload fields yet the view's ``data`` is an untyped placeholder: a segment
            # must not persist it (it would clash with the typed struct of later segments).
            columns = "*" if snap.fields else "* EXCLUDE (data)"
            try:
                for (stype,) in con.execute("SELECT DISTINCT stream_type FROM events ORDER BY 1").fetchall():
                    seg = write_segment(
                        con, store.files, f"SELECT {columns} FROM events WHERE stream_type = {sql_literal(stype)}",
                        stype, fsync=store.durability == "full",
                    )
                    crash_point("seal.after_write")
                    written.append(seg)
                    record_segment(catalog, conn, seg, _hot_streams(snap.hot, stype))
            finally:
                con.close()
            record_seal(catalog, conn, written, micros_now())  # refuses a hot log edited since its appends
            moved = catalog.delete_hot(conn)
            catalog.set_meta(conn, "hot_count", 0)
            remove_orphans(catalog, conn, store.files, grace_seconds=catalog.grace_seconds(conn))
            crash_point("seal.before_commit")
        crash_point("seal.after_commit")
        refresh_manifest(store)
        return moved
    except BaseException:
        for seg in written:
            discard(store.files, seg)
        raise


@dataclass
class CompactResult:
    merged_segments: int = 0
    new_segments: int = 0
    events: int = 0
    removed_files: list[str] = field(default_factory=list)


def compact(store: Store, *, target_events: int, progress: bool = False) -> CompactResult:
    """Merge runs of small live segments of one stream type into segments near ``target_events``.

    Each merge writes its new file outside the write lock, then swaps it in with one catalog
    transaction that first checks the inputs are still live. Replaced files are deleted only
    after the store's grace period, so running readers keep their files.
    """
    result = CompactResult()
    catalog, files = store._catalog, store.files
    with catalog.read() as conn:
        segs = catalog.live_segments(conn)
    groups: list[list[tuple]] = []
    by_type: dict[str, list[tuple]] = {}
    for s in segs:
        if s[5] < target_events:
            by_type.setdefault(s[2], []).append(s)
    for stype, small in by_type.items():
        run: list[tuple] = []
        total = 0
        for s in small:
            if run and total + s[5] > target_events:
                groups.append(run)
                run, total = [], 0
            run.append(s)
            total += s[5]
        groups.append(run)
    groups = [g for g in groups if len(g) >= 2]
    with progress_bar(total=sum(len(g) for g in groups), desc="compacting", unit="segment", enabled=progress) as bar:
        for group in groups:
            seg = merge_segments(store, group)
            if seg is None:
                continue
            result.merged_segments += len(group)
            result.new_segments += 1
            result.events += seg.event_count
            bar.update(len(group))
    with catalog.write() as conn:
        write_manifest(catalog, conn, files)
        result.removed_files = remove_orphans(catalog, conn, files, grace_seconds=catalog.grace_seconds(conn))
    return result


def merge_segments(store: Store, group: list[tuple]) -> SegmentInfo | None:
    """Merge ``group`` (live segments of one stream type, as the catalog lists them) into one.

    The new file is written outside the write lock, then swapped in with one catalog transaction
    that first checks the inputs are still live. Returns the new segment, or None when another
    process compacted them first (nothing to do).
    """
    catalog, files = store._catalog, store.files
    con = new_connection()
    seg = None
    ids = [s[0] for s in group]
    try:
        with catalog.read() as conn:  # a modified input must not be baked into a new file
            store._file_guard.check_files(catalog, conn, files, [s[1] for s in group])
        try:
            seg = write_segment(
                con, files, f"SELECT * FROM {parquet_scan([files.url(s[1]) for s in group])}", group[0][2],
                fsync=store.durability == "full",
            )
        except (duckdb.Error, StoreError) as e:  # write_segment reports a missing input as StoreError
            # Another process may have compacted these segments and removed their files
            # after its grace period; then there is nothing left to do for this group.
            with catalog.read() as conn:
                if not catalog.segments_live(conn, ids):
                    return None
            problems = file_problems(files, [s[1] for s in group])
            if not problems:
                raise
            shown = "; ".join(f"{f}: {why}" for f, why in list(problems.items())[:3])
            raise StoreError(
                f"cannot compact: {len(problems)} segment file(s) cannot be read ({shown}); the store is "
                "damaged: restore the file(s) from a backup"
            ) from e
        crash_point("compact.after_write")
        with catalog.write() as conn:
            if not catalog.segments_live(conn, ids):  # another process compacted them first
                discard(files, seg)
                return None
            if not files.exists(seg.path):
                # Orphan clean-up in another process took the new file while this one
                # waited for the lock; the inputs are still live, so nothing is lost.
                return None
            replaced = catalog.segment_hashes(conn, [s[1] for s in group])
            record_compaction(catalog, conn, [(s[1], replaced.get(s[1])) for s in group], seg, micros_now())
            new_id = record_segment(catalog, conn, seg, catalog.segment_streams(conn, ids))
            catalog.retire_segments(conn, ids, at=time.time())
            assert new_id not in ids
    except BaseException:
        discard(store.files, seg)
        raise
    finally:
        con.close()
    crash_point("compact.after_commit")
    return seg


def auto_compact(store: Store) -> int:
    """One step of automatic compaction (see :mod:`eventkit.store.compaction_policy`).

    Merges at most one group of small segments that the tiered policy picks, then rewrites the
    manifest and deletes replaced files past the grace period. Returns the segments merged.
    """
    catalog = store._catalog
    with catalog.read() as conn:
        group = compaction_policy.plan(catalog.live_segments(conn))
    if group is None or merge_segments(store, group) is None:
        return 0
    with catalog.write() as conn:
        write_manifest(catalog, conn, store.files)
        remove_orphans(catalog, conn, store.files, grace_seconds=catalog.grace_seconds(conn))
    return len(group)
