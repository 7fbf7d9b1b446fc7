"""Bulk appends, sealing, compaction and store facts: the store's heavier write paths.

Each follows the same careful order: write new segment files first, then record them (and retire
what they replace) in one catalog transaction. A crash before the commit leaves the old state and
an orphan file that no snapshot lists; a crash after leaves the new state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from ._catalog import Catalog
from ._envelope import generated_event_id_sql, micros_now
from ._errors import InvalidInput
from ._progress import progress_bar
from ._segments import SegmentInfo, discard, record_segment, remove_orphans, write_segment
from ._snapshot import read_snapshot, new_connection, sql_literal

if TYPE_CHECKING:
    from ._batch import ArrowBatch
    from ._store import AppendResult, Store


def append_bulk(store: Store, batch: ArrowBatch, expected: dict[Any, Any], default_type: str | None) -> AppendResult:
    """Append a large frame as new segment files (one per stream type) in one transaction."""
    from ._store import AppendResult, _check_expected, _resolve_type, _upsert_streams

    n = len(batch)
    table = batch.table.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
    cols = set(table.column_names)
    con = new_connection()
    con.register("_in", table)
    type_expr = "count(DISTINCT stream_type), any_value(stream_type)" if "stream_type" in cols else "0, NULL"
    ver_expr = "min(version)" if batch.has_versions else "NULL"
    summary = con.execute(
        f"SELECT stream_id, count(*), {type_expr}, {ver_expr}, max(_row) FROM _in GROUP BY stream_id ORDER BY min(_row)"
    ).fetchall()
    for sid, _, ntypes, _, _, _ in summary:
        if ntypes > 1:
            raise InvalidInput(f"stream {sid!r} is given several stream types in one append", column="stream_type")
    if batch.has_versions:
        bad = con.execute(
            "SELECT stream_id, version, prev FROM (SELECT stream_id, version, lag(version) OVER "
            "(PARTITION BY stream_id ORDER BY _row) AS prev FROM _in) WHERE prev >= version LIMIT 5"
        ).fetchall()
        if bad:
            sid, v, prev = bad[0]
            raise InvalidInput(
                f"version column for stream {sid!r} must increase strictly: {v} follows {prev}",
                column="version", values=[b[1] for b in bad],
            )
    stream_ids = [r[0] for r in summary]
    written: list[SegmentInfo] = []
    try:
        with store._catalog.write() as conn:
            if batch.ids_supplied:
                payload = table.select(batch.payload).to_pylist() if batch.payload else [{}] * n
                ids = table.column("event_id").to_pylist()
                sids = table.column("stream_id").to_pylist()
                ets = table.column("event_type").to_pylist()
                incoming = {ids[i]: (sids[i], ets[i], payload[i]) for i in range(n) if ids[i] is not None}
                dup = store._existing_append(conn, incoming)
                if dup is not None:
                    return dup
            fields = store._merge_fields(conn, batch.field_types)
            heads = Catalog.stream_heads(conn, stream_ids)
            head = Catalog.meta_int(conn, "head")
            recorded = max(micros_now(), Catalog.meta_int(conn, "last_recorded"))
            rows = []
            for sid, count, _, given_type, min_version, last_row in summary:
                existing_type, current = heads.get(sid, (None, 0))
                stype = _resolve_type(sid, existing_type, {given_type or default_type})
                _check_expected(sid, expected, current)
                if batch.has_versions and min_version <= current:
                    raise InvalidInput(
                        f"version column for stream {sid!r} starts at {min_version}, not above the stream's "
                        f"current version {current}", column="version", values=[min_version],
                    )
                rows.append((sid, stype, current, count, head + 1 + last_row))
            con.register("_heads", pa.table({
                "stream_id": [r[0] for r in rows], "stream_type": [r[1] for r in rows],
                "base": pa.array([r[2] for r in rows], pa.int64()),
            }))
            ts = f"make_timestamp({recorded})::TIMESTAMPTZ"
            version = "i.version" if batch.has_versions else \
                "(h.base + row_number() OVER (PARTITION BY i.stream_id ORDER BY i._row))::BIGINT"
            generated = generated_event_id_sql(store._catalog.id_prefix, f"({head} + 1 + i._row)")
            event_id = f"coalesce(i.event_id, {generated})" if "event_id" in cols else generated
            occurred = f"coalesce(i.occurred_at, {ts})" if "occurred_at" in cols else ts
            metadata = "i.metadata::JSON::MAP(VARCHAR, VARCHAR)" if "metadata" in cols else "NULL::MAP(VARCHAR, VARCHAR)"
            data = ""
            if batch.payload:
                data = "struct_pack(" + ", ".join(f'"{f}" := i."{f}"::{fields[f]}' for f in batch.payload) + ") AS data, "
            con.execute(
                f"CREATE TEMP TABLE _out AS SELECT ({head} + 1 + i._row)::BIGINT AS position, i.stream_id, "
                f"h.stream_type, {version} AS version, i.event_type, {event_id} AS event_id, {occurred} AS occurred_at, "
                f"{ts} AS recorded_at, {data}{metadata} AS metadata FROM _in i JOIN _heads h USING (stream_id)"
            )
            for stype in sorted({r[1] for r in rows}):
                seg = write_segment(
                    con, store.path, f"SELECT * FROM _out WHERE stream_type = {sql_literal(stype)}", stype,
                    fsync=store.durability == "full",
                )
                written.append(seg)
                ids_of_type = [r[0] for r in rows if r[1] == stype]
                record_segment(conn, seg, "SELECT value AS stream_id FROM json_each(?)", (json.dumps(ids_of_type),))
            if batch.ids_supplied:
                given = table.select(["event_id", "_row"]).filter(pa.compute.is_valid(table.column("event_id")))
                conn.executemany("INSERT INTO event_ids VALUES (?, ?)", zip(
                    given.column("event_id").to_pylist(), (head + 1 + r for r in given.column("_row").to_pylist())))
            versions = {}
            new_heads = []
            if batch.has_versions:
                finals = dict(con.execute("SELECT stream_id, max(version) FROM _in GROUP BY 1").fetchall())
            for sid, stype, base, count, last_pos in rows:
                v = finals[sid] if batch.has_versions else base + count
                versions[sid] = v
                new_heads.append((sid, stype, v, last_pos))
            _upsert_streams(conn, new_heads)
            Catalog.set_meta(conn, "head", head + n)
            Catalog.set_meta(conn, "last_recorded", recorded)
    except BaseException:
        for seg in written:
            discard(store.path, seg)
        raise
    finally:
        con.close()
    return AppendResult(head + 1, head + n, versions)


def seal(store: Store) -> int:
    """Move all hot-log rows into segments (one per stream type) in one transaction."""
    written: list[SegmentInfo] = []
    try:
        with store._catalog.write() as conn:
            snap = read_snapshot(conn, store.path)
            if not snap.hot.num_rows:
                return 0
            snap.files = []  # only the hot rows
            con = snap.connect()
            # With no payload fields yet the view's ``data`` is an untyped placeholder: a segment
            # must not persist it (it would clash with the typed struct of later segments).
            columns = "*" if snap.fields else "* EXCLUDE (data)"
            try:
                for (stype,) in con.execute("SELECT DISTINCT stream_type FROM events ORDER BY 1").fetchall():
                    seg = write_segment(
                        con, store.path, f"SELECT {columns} FROM events WHERE stream_type = {sql_literal(stype)}", stype,
                        fsync=store.durability == "full",
                    )
                    written.append(seg)
                    record_segment(conn, seg, "SELECT DISTINCT stream_id FROM hot WHERE stream_type = ?", (stype,))
            finally:
                con.close()
            moved = conn.execute("DELETE FROM hot").rowcount
            Catalog.set_meta(conn, "hot_count", 0)
            remove_orphans(conn, store.path, grace_seconds=store.grace_seconds)
        return moved
    except BaseException:
        for seg in written:
            discard(store.path, seg)
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
    with store._catalog.read() as conn:
        segs = Catalog.live_segments(conn)
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
            con = new_connection()
            listing = ", ".join(sql_literal(str(store.path / s[1])) for s in group)
            seg = None
            ids = [s[0] for s in group]
            marks = ",".join("?" * len(ids))
            try:
                try:
                    seg = write_segment(
                        con, store.path, f"SELECT * FROM read_parquet([{listing}], union_by_name = true)", group[0][2],
                        fsync=store.durability == "full",
                    )
                except duckdb.IOException:
                    # Another process may have compacted these segments and removed their files
                    # after its grace period; then there is nothing left to do for this group.
                    with store._catalog.read() as conn:
                        live = conn.execute(
                            f"SELECT count(*) FROM segments WHERE retired_at IS NULL AND segment_id IN ({marks})", ids
                        ).fetchone()[0]
                    if live != len(ids):
                        continue
                    raise
                with store._catalog.write() as conn:
                    live = conn.execute(
                        f"SELECT count(*) FROM segments WHERE retired_at IS NULL AND segment_id IN ({marks})", ids
                    ).fetchone()[0]
                    if live != len(ids):  # another process compacted them first
                        discard(store.path, seg)
                        continue
                    if not (store.path / seg.path).exists():
                        # Orphan clean-up in another process took the new file while this one
                        # waited for the lock; the inputs are still live, so nothing is lost.
                        continue
                    new_id = record_segment(
                        conn, seg, f"SELECT DISTINCT stream_id FROM stream_segments WHERE segment_id IN ({marks})", tuple(ids)
                    )
                    conn.execute(f"DELETE FROM stream_segments WHERE segment_id IN ({marks})", ids)
                    conn.execute(f"UPDATE segments SET retired_at = ? WHERE segment_id IN ({marks})", [time.time(), *ids])
                    assert new_id not in ids
            except BaseException:
                discard(store.path, seg)
                raise
            finally:
                con.close()
            result.merged_segments += len(group)
            result.new_segments += 1
            result.events += seg.event_count
            bar.update(len(group))
    with store._catalog.write() as conn:
        result.removed_files = remove_orphans(conn, store.path, grace_seconds=store.grace_seconds)
    return result


@dataclass
class StoreInfo:
    """Facts about a store; ``str()`` gives a readable summary."""

    path: str
    events: int
    streams: int
    segments: int
    hot_events: int
    size_bytes: int
    first_occurred: Any
    last_occurred: Any
    first_recorded: Any
    last_recorded: Any
    event_types: pd.DataFrame
    stream_types: pd.DataFrame
    fields: dict[str, str]

    def __str__(self) -> str:
        lines = [
            f"store        {self.path}",
            f"events       {self.events:,} in {self.streams:,} streams",
            f"storage      {self.segments:,} segments + {self.hot_events:,} hot events, {self.size_bytes / 1e6:,.1f} MB",
            f"occurred     {self.first_occurred} .. {self.last_occurred}",
            f"recorded     {self.first_recorded} .. {self.last_recorded}",
            "stream types " + ", ".join(f"{r.stream_type} ({r.streams:,})" for r in self.stream_types.itertuples()),
            "event types",
        ]
        lines += [f"  {r.event_type:<24} {r.events:>12,}" for r in self.event_types.itertuples()]
        lines.append("fields       " + ", ".join(f"{k} {v}" for k, v in self.fields.items()))
        return "\n".join(lines)


def info(store: Store) -> StoreInfo:
    with store._catalog.read() as conn:
        snap = read_snapshot(conn, store.path)
        streams = conn.execute("SELECT count(*) FROM streams").fetchone()[0]
        stypes = pd.DataFrame(
            conn.execute("SELECT stream_type, count(*) FROM streams GROUP BY 1 ORDER BY 2 DESC").fetchall(),
            columns=["stream_type", "streams"],
        )
        seg_bytes, nseg = conn.execute(
            "SELECT coalesce(sum(size_bytes), 0), count(*) FROM segments WHERE retired_at IS NULL").fetchone()
    con = snap.connect()
    try:
        et = con.execute(
            "SELECT event_type, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC, 1").df()
        times = con.execute(
            "SELECT min(occurred_at), max(occurred_at), min(recorded_at), max(recorded_at) FROM events").fetchall()[0]
    finally:
        con.close()
    catalog_bytes = sum(p.stat().st_size for p in store.path.glob("catalog.sqlite*"))
    return StoreInfo(
        path=str(store.path), events=snap.high_water, streams=streams, segments=nseg, hot_events=snap.hot.num_rows,
        size_bytes=seg_bytes + catalog_bytes, first_occurred=times[0], last_occurred=times[1],
        first_recorded=times[2], last_recorded=times[3], event_types=et, stream_types=stypes, fields=snap.fields,
    )
