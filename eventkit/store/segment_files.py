"""Segment files: immutable Parquet, written once by DuckDB into the file store, recorded in the catalog after.

A segment is written to its final path before the catalog transaction that records it commits.
A crash in between leaves an orphan file that no snapshot lists; :func:`remove_orphans` deletes
such files once they are older than the grace period.

May use :mod:`eventkit.common`, :mod:`.catalog_interface`, :mod:`.file_store` and :mod:`.read_snapshot`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

import duckdb

from eventkit.common.errors import StoreError
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.file_store import FileStore
from eventkit.store.integrity import file_sha256
from eventkit.store.read_snapshot import sql_literal

SEGMENTS_DIR = "segments"
#: Rows per Parquet row group. A point read (the newest events of one stream) decodes whole row groups:
#: pyarrow has no row-range read, and DuckDB reads no page index. bench_ops.py measures the choice side
#: by side on a 2M-event segment of 100k streams (BENCHMARKS.md, "Operational reads and appends"):
#: decoding one group of 122,880 rows took 20-35 ms, of 16,384 1.4-2.8 ms, of 8,192 1.0-4.7 ms (shared
#: machine), and the fold-like scan was no slower at 16,384; the declarative fold of the 10M-event
#: benchmark store used 1.42 s of CPU with 16,384 and 1.45 s with 122,880 (bench_folds --only statesql,
#: median of 3 rounds). Smaller groups make footers larger (about 1.2 MB parsed per 2M-event segment
#: at 16,384; see point_reads.FooterCache). DuckDB rounds the size up to a multiple of 2,048.
ROW_GROUP_SIZE = 16_384


@dataclass
class SegmentInfo:
    path: str  # relative to the store root
    stream_type: str
    first_position: int
    last_position: int
    event_count: int
    size_bytes: int
    min_occurred: int
    max_occurred: int
    min_recorded: int
    max_recorded: int
    sha256: str | None = None  # of the file's bytes, recorded in the catalog and the hash chain


def segment_path(stream_type: str, first: int, last: int) -> str:
    return f"{SEGMENTS_DIR}/stream_type={stream_type}/{first:012d}-{last:012d}-{uuid.uuid4().hex[:12]}.parquet"


@dataclass
class SegmentStats:
    """What the catalog records about a segment's rows."""

    first_position: int
    last_position: int
    event_count: int
    min_occurred: int
    max_occurred: int
    min_recorded: int
    max_recorded: int


def write_segment(
    con: duckdb.DuckDBPyConnection,
    files: FileStore,
    select_sql: str,
    stream_type: str,
    *,
    fsync: bool,
    stats: SegmentStats | None = None,
    compression_level: int | None = None,
) -> SegmentInfo | None:
    """Write the rows of ``select_sql`` (envelope + data + metadata) as one segment file in ``files``.

    The rows are sorted by (stream_id, position) so row-group statistics prune reads of one
    stream. A caller that passes ``stats`` vouches that the rows already come in that order (and
    saves a pass over them). ``compression_level``: zstd's level, when not its default (3). Returns
    None when the query yields no rows.
    """
    order = ""
    if stats is None:
        row = con.execute(
            "SELECT min(position), max(position), count(*), epoch_us(min(occurred_at)), "
            f"epoch_us(max(occurred_at)), epoch_us(min(recorded_at)), epoch_us(max(recorded_at)) FROM ({select_sql})"
        ).fetchall()[0]
        if not row[2]:
            return None
        stats = SegmentStats(*row)
        order = " ORDER BY stream_id, position"
    rel_path = segment_path(stream_type, stats.first_position, stats.last_position)

    digest: dict[str, str] = {}
    level = "" if compression_level is None else f"COMPRESSION_LEVEL {int(compression_level)}, "

    def copy(local: str) -> None:
        con.execute(
            f"COPY (SELECT * FROM ({select_sql}){order}) TO {sql_literal(local)} "
            f"(FORMAT parquet, COMPRESSION zstd, {level}ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
        )
        digest["sha256"] = file_sha256(local)  # of the bytes as written (recorded in the catalog and chain)

    try:
        # fsync: the file's bytes and its name in every folder made for it, before the catalog
        # commit that records it (a power cut after the commit must lose none of them).
        stored = files.write_once(rel_path, copy, fsync=fsync)
    except (OSError, duckdb.IOException, duckdb.PermissionException) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        full = "No space left" in str(e) or getattr(e, "errno", None) == 28
        raise StoreError(
            f"cannot write segment file {files.url(rel_path)}: {first[:300]}; nothing of this change was stored"
            + (" (the disk is full: free some space and retry)" if full else "")
        ) from e
    return SegmentInfo(
        path=rel_path,
        stream_type=stream_type,
        first_position=stats.first_position,
        last_position=stats.last_position,
        event_count=stats.event_count,
        size_bytes=stored.size,
        min_occurred=stats.min_occurred,
        max_occurred=stats.max_occurred,
        min_recorded=stats.min_recorded,
        max_recorded=stats.max_recorded,
        sha256=digest["sha256"],
    )


def record_segment(catalog: CatalogBackend, tx: Any, seg: SegmentInfo, stream_ids: Sequence[str]) -> int:
    """Record a written segment and the streams it holds, inside the caller's write transaction."""
    return catalog.add_segment(tx, seg, stream_ids)


def discard(files: FileStore, seg: SegmentInfo | None) -> None:
    """Remove a segment file whose catalog transaction did not commit."""
    if seg is not None:
        files.delete(seg.path)


MANIFEST = "_live.json"  # in the segments folder: the live files, for tools that read without eventkit


def write_manifest(catalog: CatalogBackend, tx: Any, files: FileStore, *, fsync: bool = False) -> str:
    """Replace ``segments/_live.json`` with the live segment list, atomically; its path in ``files``.

    Called inside a catalog write transaction after every commit that changes the segment list,
    so manifests are written in commit order. Tools that read the store without eventkit (DuckDB,
    Polars, Spark) read exactly these files: a glob over the folder would also match files that a
    compaction replaced and that stay for running readers during the grace period. The manifest is
    derived from the catalog (``gc`` rewrites it), so it is flushed to disk only with ``fsync``.
    """
    live = catalog.live_segments(tx)
    doc = {
        "about": "the live segment files of this eventkit store, relative to the store folder; "
                 "events still in the hot log are not in any file (run `eventkit seal` first)",
        "format": 1,
        "head_when_written": catalog.log_state(tx)["head"],
        "events_in_files": sum(r[5] for r in live),
        "files": [r[1] for r in live],
    }
    path = f"{SEGMENTS_DIR}/{MANIFEST}"
    files.replace(path, json.dumps(doc, indent=0).encode(), fsync=fsync)
    return path


def manifest_files(files: FileStore) -> set[str]:
    """The files the current manifest lists (relative paths); empty when there is none."""
    try:
        return set(json.loads(files.read_bytes(f"{SEGMENTS_DIR}/{MANIFEST}")).get("files", []))
    except (OSError, ValueError):
        return set()


def remove_orphans(catalog: CatalogBackend, tx: Any, files: FileStore, *, grace_seconds: float) -> list[str]:
    """Delete segment files the catalog does not list, and retired ones past the grace period.

    Runs inside a catalog write transaction. Files younger than the grace period are kept: a writer
    may be about to record them, or a reader may still be scanning them.
    """
    now = time.time()
    removed = []
    listed = manifest_files(files)  # a manifest not yet refreshed (a failed write) still points here
    for segment_id, rel in catalog.retired_segments(tx, before=now - grace_seconds):
        if rel in listed:
            continue
        files.delete(rel)
        catalog.forget_segment(tx, segment_id)
        removed.append(rel)
    # Compared without case: on a case-insensitive file system (macOS, Windows) the files of stream
    # types ``Account`` and ``account`` share the folder first made, so a listing spells some live
    # files' paths differently from the catalog. File names carry a random part, so no real orphan
    # differs from a live file only in case.
    known = {p.casefold() for p in catalog.segment_paths(tx)}
    for f in files.listing(SEGMENTS_DIR, suffix=".parquet"):
        if f.path.casefold() not in known and f.modified < now - grace_seconds:
            files.delete(f.path)
            removed.append(f.path)
    return removed
