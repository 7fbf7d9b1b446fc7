"""Segment files: immutable Parquet, written once by DuckDB, recorded in the catalog after.

A segment is written to its final path before the catalog transaction that records it commits.
A crash in between leaves an orphan file that no snapshot lists; :func:`remove_orphans` deletes
such files once they are older than the grace period.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eventkit.common.errors import StoreError
from eventkit.store.file_store import FileStore, fsync_path
from eventkit.store.integrity import file_sha256
from eventkit.store.read_snapshot import sql_literal

SEGMENTS_DIR = "segments"
ROW_GROUP_SIZE = 122_880


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
    root: Path,
    select_sql: str,
    stream_type: str,
    *,
    fsync: bool,
    stats: SegmentStats | None = None,
) -> SegmentInfo | None:
    """Write the rows of ``select_sql`` (envelope + data + metadata) as one segment file.

    The rows are sorted by (stream_id, position) so row-group statistics prune reads of one
    stream. A caller that passes ``stats`` vouches that the rows already come in that order (and
    saves a pass over them). Returns None when the query yields no rows.
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
    path = root / rel_path
    new_dirs = [d for d in (path.parent, path.parent.parent) if not d.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT * FROM ({select_sql}){order}) TO {sql_literal(str(path))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
        )
        if fsync:
            # The file's bytes, then its name in its folder, then the name of every folder made for
            # it: a power cut after the catalog commit must not lose any of the three.
            for p in (path, path.parent, *(d.parent for d in new_dirs)):
                fsync_path(p)
    except (OSError, duckdb.IOException, duckdb.PermissionException) as e:
        if path.parent.is_dir():
            path.unlink(missing_ok=True)  # a partial file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        full = "No space left" in str(e) or getattr(e, "errno", None) == 28
        raise StoreError(
            f"cannot write segment file {path}: {first[:300]}; nothing of this change was stored"
            + (" (the disk is full: free some space and retry)" if full else "")
        ) from e
    return SegmentInfo(
        path=rel_path,
        stream_type=stream_type,
        first_position=stats.first_position,
        last_position=stats.last_position,
        event_count=stats.event_count,
        size_bytes=path.stat().st_size,
        min_occurred=stats.min_occurred,
        max_occurred=stats.max_occurred,
        min_recorded=stats.min_recorded,
        max_recorded=stats.max_recorded,
        sha256=file_sha256(path),
    )


def record_segment(conn: sqlite3.Connection, seg: SegmentInfo, stream_ids_sql: str, params: tuple = ()) -> int:
    """Insert a segment row and its stream index inside the caller's write transaction.

    Args:
        stream_ids_sql: A SQLite SELECT yielding the distinct stream ids the segment holds.
    """
    cur = conn.execute(
        "INSERT INTO segments (path, stream_type, first_position, last_position, event_count, size_bytes, "
        "min_occurred, max_occurred, min_recorded, max_recorded, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            seg.path, seg.stream_type, seg.first_position, seg.last_position, seg.event_count, seg.size_bytes,
            seg.min_occurred, seg.max_occurred, seg.min_recorded, seg.max_recorded, seg.sha256,
        ),
    )
    segment_id = cur.lastrowid
    conn.execute(
        f"INSERT OR IGNORE INTO stream_segments (stream_id, segment_id) SELECT stream_id, {int(segment_id)} FROM ({stream_ids_sql})",
        params,
    )
    return segment_id


def discard(files: FileStore, seg: SegmentInfo | None) -> None:
    """Remove a segment file whose catalog transaction did not commit."""
    if seg is not None:
        files.delete(seg.path)


MANIFEST = "_live.json"  # in the segments folder: the live files, for tools that read without eventkit


def write_manifest(conn: sqlite3.Connection, root: Path, *, fsync: bool = False) -> Path:
    """Replace ``segments/_live.json`` with the live segment list, atomically (write aside, rename).

    Called inside a catalog write transaction after every commit that changes the segment list,
    so manifests are written in commit order. Tools that read the store without eventkit (DuckDB,
    Polars, Spark) read exactly these files: a glob over the folder would also match files that a
    compaction replaced and that stay for running readers during the grace period. The manifest is
    derived from the catalog (``gc`` rewrites it), so it is flushed to disk only with ``fsync``.
    """
    live = conn.execute(
        "SELECT path, event_count FROM segments WHERE retired_at IS NULL ORDER BY first_position"
    ).fetchall()
    head = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    doc = {
        "about": "the live segment files of this eventkit store, relative to the store folder; "
                 "events still in the hot log are not in any file (run `eventkit seal` first)",
        "format": 1,
        "head_when_written": int(head[0]) if head else 0,
        "events_in_files": sum(r[1] for r in live),
        "files": [r[0] for r in live],
    }
    folder = root / SEGMENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=0)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def manifest_files(files: FileStore) -> set[str]:
    """The files the current manifest lists (relative paths); empty when there is none."""
    try:
        return set(json.loads(files.read_bytes(f"{SEGMENTS_DIR}/{MANIFEST}")).get("files", []))
    except (OSError, ValueError):
        return set()


def remove_orphans(conn: sqlite3.Connection, files: FileStore, *, grace_seconds: float) -> list[str]:
    """Delete segment files the catalog does not list, and retired ones past the grace period.

    Files younger than the grace period are kept: a writer may be about to record them, or a
    reader may still be scanning them.
    """
    now = time.time()
    removed = []
    listed = manifest_files(files)  # a manifest not yet refreshed (a failed write) still points here
    retired = conn.execute(
        "SELECT segment_id, path FROM segments WHERE retired_at IS NOT NULL AND retired_at < ?",
        (now - grace_seconds,),
    ).fetchall()
    for segment_id, rel in retired:
        if rel in listed:
            continue
        files.delete(rel)
        conn.execute("DELETE FROM segments WHERE segment_id = ?", (segment_id,))
        removed.append(rel)
    known = {r[0] for r in conn.execute("SELECT path FROM segments")}
    for f in files.listing(SEGMENTS_DIR, suffix=".parquet"):
        if f.path not in known and f.modified < now - grace_seconds:
            files.delete(f.path)
            removed.append(f.path)
    return removed
