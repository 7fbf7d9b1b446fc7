"""``store.verify()``: re-hash the files, walk the chain, and compare the catalog with what it recorded.

The chain is replayed from its first link to derive what the store must hold now: the live
segment files (path, SHA-256, size, positions, stream type) and the hot-log appends not yet
sealed. The catalog's segment list, hot log, head, stream heads, stream index and supplied-id
index are then compared with that, and (unless ``quick``) every live file is re-hashed and scanned
once by DuckDB. Every difference is a :class:`Problem` naming the link, positions and files it
affects; the report lists them first-link first.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from eventkit.store.integrity import ALL, Link, TamperedStore, file_sha256
from eventkit.store.chain_links import check_hot_rows
from eventkit.store.chain_walk import replay
from eventkit.store.read_snapshot import new_connection, parquet_scan
from eventkit.store.verify_personal import REMEDY, PlainPersonal, check_plain_personal


@dataclass
class Problem:
    """One way the store differs from its chain."""

    what: str
    link: int | None = None  # the first link it concerns, when one does
    positions: tuple[int, int] | None = None
    files: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = []
        if self.link is not None:
            where.append(f"link {self.link}")
        if self.positions is not None:
            where.append(f"positions {self.positions[0]:,}..{self.positions[1]:,}")
        if self.files:
            where.append("file" + ("s " if len(self.files) > 1 else " ") + ", ".join(self.files[:3])
                         + (f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""))
        return self.what + (f" ({'; '.join(where)})" if where else "")


@dataclass
class VerifyReport:
    """What ``verify`` checked and found. ``ok`` when nothing differs; ``str()`` reads as a report."""

    path: str
    quick: bool
    links: int
    head: int
    head_hash: str
    files: int
    files_hashed: int
    events_scanned: int
    seconds: float
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Declared personal fields holding values in plain text (the full check only): not tampering, but
    #: data ``forget`` cannot erase (see :mod:`eventkit.store.verify_personal`).
    plain_personal: list[PlainPersonal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the store holds exactly the history its chain records (``plain_personal`` aside)."""
        return not self.problems

    @property
    def first_bad_link(self) -> int | None:
        links = [p.link for p in self.problems if p.link is not None]
        return min(links) if links else None

    def __str__(self) -> str:
        mode = "quick check (chain, catalog, file sizes, hot log)" if self.quick else "full check"
        lines = [f"store      {self.path}",
                 f"checked    {mode} in {self.seconds:.2f} s",
                 f"chain      {self.links:,} links, head position {self.head:,}, head hash {self.head_hash}",
                 f"files      {self.files:,} live segment files, {self.files_hashed:,} re-hashed"
                 + (f", {self.events_scanned:,} events scanned" if not self.quick else "")]
        if self.ok:
            lines.append("result     OK: the store holds exactly the history its chain records")
        else:
            first = self.first_bad_link
            lines.append(f"result     TAMPERED: {len(self.problems)} problem(s)"
                         + (f"; the first bad link is {first}" if first is not None else ""))
            lines += [f"  - {p}" for p in self.problems]
        if self.plain_personal:
            n = sum(p.count for p in self.plain_personal)
            lines.append(f"personal   WARNING: {n:,} value(s) of declared personal fields are stored in plain text; "
                         + REMEDY)
            lines += [f"  - {p}" for p in self.plain_personal]
        lines += [f"note       {n}" for n in self.notes]
        return "\n".join(lines)


def verify(store: Any, *, quick: bool = False) -> VerifyReport:
    """Check ``store`` against its hash chain (see the module docstring); never raises on a finding.

    The full check's three costs run side by side: the files are re-hashed in threads (hashlib
    releases the GIL), DuckDB aggregates them (it releases the GIL too) while this thread reads the
    catalog's stream heads and indexes. The scan starts before the hashes are known; a file found
    modified is dropped from its result (or, if the scan failed on it, the scan is run again without it).
    """
    started = time.perf_counter()
    catalog = store._catalog
    problems: list[Problem] = []
    local: dict[str, str] = {}  # each live file as a local path: the store's files may be in a bucket
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        with catalog.read() as tx:  # one snapshot for every catalog read below
            links = catalog.links(tx)  # rows in LINK_COLUMNS order (see chain_walk)
            head = catalog.meta_int(tx, "head")
            segments = catalog.segment_rows(tx)
            hot = catalog.hot_rows(tx, upto=ALL)
            live, pending, chain_head = replay(links, problems, Problem)
            by_path = _compare_segments(segments, live, problems)
            present = _present_files(store, live, local, problems)
            scannable = [p for p in present if p in by_path]
            aggregating = None if quick else pool.submit(_aggregate, [local[p] for p in scannable])
            hashing = {} if quick else {p: pool.submit(file_sha256, local[p]) for p in present}
            streams = catalog.all_streams(tx) if not quick else []
            pairs = catalog.stream_segment_pairs(tx) if not quick else []
            supplied = catalog.supplied_ids(tx) if not quick else []
            declarations = catalog.personal_declarations(tx)
            fields = catalog.fields(tx) if declarations else {}
            plain = None if quick or not declarations else pool.submit(
                check_plain_personal, [local[p] for p in scannable], hot, declarations, fields)
        modified = {p for p, f in hashing.items() if f.result() != live[p]["sha256"]}
        for path in sorted(modified):
            entry = live[path]
            problems.append(Problem("a segment file's bytes differ from those its link recorded", link=entry["link"],
                                    positions=(entry["first"], entry["last"]), files=[path]))
        intact = [p for p in scannable if p not in modified]
        scanned = 0
        if aggregating is not None:
            try:
                con = _aggregated(aggregating, scannable, intact, local)
                try:
                    scanned = _check_scan(con, intact, live, by_path, hot, streams, pairs, supplied,
                                          catalog.id_prefix, local, problems)
                finally:
                    con.close()
            except duckdb.Error as e:
                problems.append(Problem(f"the segment files cannot be scanned: {str(e).splitlines()[0]}"))
        plain_personal = _plain_personal(plain, scannable, intact, local, hot, declarations, fields)
    if head != chain_head:
        problems.append(Problem(f"the catalog's head is position {head:,} but the chain's last commit ends at "
                                f"{chain_head:,}", positions=(min(head, chain_head) + 1, max(head, chain_head))))
    if not links and head:
        problems.append(Problem("the store has events but no hash chain (written by an eventkit from before "
                                "chains, or the chain was deleted)", positions=(1, head)))
    try:
        check_hot_rows(pending, hot)
    except (KeyError, TypeError, ValueError) as e:
        problems.append(Problem(f"an append link's detail is unreadable ({e})"))
    except TamperedStore as e:
        problems.append(Problem(str(e), link=_link_at(pending, str(e))))
    catalogued = {s[1].casefold() for s in segments}  # without case: see segment_files.remove_orphans
    unlisted = [f.path for f in store.files.listing("segments", suffix=".parquet")
                if f.path.casefold() not in catalogued]
    notes = []
    if quick and declarations:
        notes.append("declared personal fields not checked for values stored in plain text (the full check does)")
    if unlisted:
        notes.append(f"{len(unlisted)} segment file(s) in the folder are not in the catalog and are never read "
                     f"(left by a crash, or put there by hand; `eventkit gc` removes them): {', '.join(unlisted[:3])}")
    problems.sort(key=lambda p: (p.link is None, p.link or 0))
    return VerifyReport(
        path=str(store.path), quick=quick, links=len(links), head=head,
        head_hash=links[-1][7].hex() if links else "", files=len(live), files_hashed=len(hashing),
        events_scanned=scanned, seconds=time.perf_counter() - started, problems=problems, notes=notes,
        plain_personal=plain_personal,
    )


def _plain_personal(started: Future | None, scanned: list[str], intact: list[str], local: dict[str, str],
                    hot: list[tuple], declarations: list[tuple], fields: dict[str, str]) -> list[PlainPersonal]:
    """The plain-value check's findings over the intact files: the run started over ``scanned``, or a new
    one without the files found modified (a modified file is reported as such; it may not even parse)."""
    if started is None:
        return []
    try:
        found = started.result()
    except duckdb.Error:
        found = None
    if scanned == intact and found is not None:
        return found
    try:
        return check_plain_personal([local[p] for p in intact], hot, declarations, fields)
    except duckdb.Error:
        return []  # the scan's failure is reported as a problem already


_WORKERS = 4  # threads for hashing files and the scan (the hashing is I/O and C; more buys nothing on 2 cores)


def _present_files(store: Any, live: dict[str, dict], local: dict[str, str], problems: list[Problem]) -> list[str]:
    """The live files that exist with the size their link recorded (the others are problems)."""
    present = []
    for path, entry in live.items():
        full = Path(local.setdefault(path, store.files.url(path)))
        try:
            size = full.stat().st_size
        except OSError:
            problems.append(Problem("a live segment file is missing", link=entry["link"],
                                    positions=(entry["first"], entry["last"]), files=[path]))
            continue
        if size != entry["size"]:
            problems.append(Problem("a segment file's bytes differ from those its link recorded", link=entry["link"],
                                    positions=(entry["first"], entry["last"]), files=[path]))
            continue
        present.append(path)
    return present


def _link_at(pending: list[Link], message: str) -> int | None:
    for link in pending:
        if f"link {link.seq})" in message:
            return link.seq
    return pending[0].seq if pending else None


def _compare_segments(segments: list[tuple], live: dict[str, dict], problems: list[Problem]) -> dict[str, tuple]:
    """The catalog's live segment rows against the chain's live files; returns path -> catalog row."""
    rows = {s[1]: s for s in segments if s[11] is None}
    for path, row in rows.items():
        entry = live.get(path)
        if entry is None:
            problems.append(Problem("the catalog lists a segment the chain never recorded (a row added or swapped)",
                                    positions=(row[3], row[4]), files=[path]))
            continue
        recorded = (entry["stream_type"], entry["first"], entry["last"], entry["count"], entry["size"],
                    *entry["times"], entry["sha256"])
        if (row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10], row[12]) != recorded:
            problems.append(Problem("a segment row of the catalog was edited", link=entry["link"],
                                    positions=(entry["first"], entry["last"]), files=[path]))
    for path, entry in live.items():
        if path not in rows:
            problems.append(Problem("a segment the chain holds is not live in the catalog (a row deleted or retired)",
                                    link=entry["link"], positions=(entry["first"], entry["last"]), files=[path]))
    return rows


#: Files per group of the scan's bit sets: a stream's files are a BIGINT mask per group of this many.
GROUP_FILES = 62


def _aggregate(files: list[str]) -> duckdb.DuckDBPyConnection:
    """A new connection holding the scan of ``files``, aggregated: ``_stream_files`` per stream (and group
    of :data:`GROUP_FILES` files) the set of files holding it as a bit mask, its last position and last
    version; ``_file_counts`` per file its event count and position range. Runs in a worker thread
    (DuckDB releases the GIL).

    Grouping by stream alone (100,000 groups at 10M events) instead of by (file, stream) is what makes
    the scan cheap; the masks still say exactly which files hold each stream. Per stream the version
    is ``max(version)``: versions rise with positions (each file was hashed when written, by a writer
    that checks this).
    """
    con = new_connection()
    try:
        if files:
            scan = parquet_scan(files)
            con.execute(
                f"CREATE TEMP TABLE _stream_files AS SELECT stream_id, file_index // {GROUP_FILES} AS grp, "
                f"bit_or(1::BIGINT << (file_index % {GROUP_FILES})::BIGINT) AS files, max(position) AS last, "
                f"max(version) AS version FROM {scan} GROUP BY stream_id, grp")
            con.execute(f"CREATE TEMP TABLE _file_counts AS SELECT file_index AS file, count(*) AS n, "
                        f"min(position) AS first, max(position) AS last FROM {scan} GROUP BY 1")
        else:
            con.execute("CREATE TEMP TABLE _stream_files (stream_id VARCHAR, grp BIGINT, files BIGINT, last BIGINT, "
                        "version BIGINT)")
            con.execute("CREATE TEMP TABLE _file_counts (file BIGINT, n BIGINT, first BIGINT, last BIGINT)")
    except BaseException:
        con.close()
        raise
    return con


def _aggregated(started: Future, scanned: list[str], intact: list[str],
                local: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """The aggregation over exactly the ``intact`` files: the one started over ``scanned`` when no file
    was found modified, else a new one without them (a modified file may not even parse)."""
    if scanned == intact:
        return started.result()
    try:
        started.result().close()
    except duckdb.Error:
        pass
    return _aggregate([local[p] for p in intact])


def _table(rows: list[tuple], columns: dict[str, pa.DataType]) -> pa.Table:
    """Catalog rows as an Arrow table, column by column (``zip(*rows)`` is 30 times slower at 500,000 rows)."""
    return pa.table({name: pa.array([r[i] for r in rows], kind) for i, (name, kind) in enumerate(columns.items())})


def _check_scan(con: duckdb.DuckDBPyConnection, files: list[str], live: dict[str, dict], by_path: dict[str, tuple],
                hot: list[tuple], streams: list[tuple], pairs: list[tuple], supplied: list[tuple], id_prefix: str,
                local: dict[str, str], problems: list[Problem]) -> int:
    """Every check on the aggregation of the intact live ``files`` (in ``con``) and the hot log.

    A file found modified is left out (its events would be wrong anyway): then the heads and
    indexes of its streams differ too, and are reported as well. The event_id column (the widest)
    is read only when the store has supplied ids to check. Returns how many events were counted.
    """
    con.register("_hot", _table([(r[1], r[2], r[0], r[3], r[5]) for r in hot], {
        "stream_id": pa.string(), "stream_type": pa.string(), "position": pa.int64(), "version": pa.int64(),
        "event_id": pa.string()}))
    con.register("_segfiles", pa.table({  # file: the file's place in the scan's list; grp and bit: its mask bit
        "file": pa.array(range(len(files)), pa.int64()),
        "grp": pa.array([i // GROUP_FILES for i in range(len(files))], pa.int64()),
        "bit": pa.array([1 << (i % GROUP_FILES) for i in range(len(files))], pa.int64()),
        "segment_id": pa.array([by_path[p][0] for p in files], pa.int64()),
        "stream_type": pa.array([live[p]["stream_type"] for p in files], pa.string())}))
    con.execute("CREATE TEMP TABLE _hot_agg AS SELECT stream_id, any_value(stream_type) AS stream_type, count(*) AS n, "
                "max(position) AS last, arg_max(version, position) AS version FROM _hot GROUP BY stream_id")
    total = con.execute("SELECT (SELECT coalesce(sum(n), 0) FROM _file_counts) + "
                        "(SELECT coalesce(sum(n), 0) FROM _hot_agg)").fetchall()[0][0]
    rel = dict(enumerate(files))
    # The rows' times are bound by the chain (each file's link records its catalog row whole) and the
    # file by its hash; counts and positions are checked against the rows as well.
    for f, count, first, last in con.execute("SELECT file, n, first, last FROM _file_counts").fetchall():
        row = by_path[rel[f]]
        if (count, first, last) != (row[5], row[3], row[4]):
            entry = live[rel[f]]
            problems.append(Problem("a segment row's count or positions differ from its file",
                                    link=entry["link"], positions=(entry["first"], entry["last"]), files=[rel[f]]))
    con.register("_streams", _table(streams, {"stream_id": pa.string(), "stream_type": pa.string(),
                                              "version": pa.int64(), "last_position": pa.int64()}))
    # a stream's types: those of the files in its masks (one row per type it touches), and its hot rows'
    bad = con.execute(
        "WITH types AS (SELECT grp, stream_type, bit_or(bit) AS mask FROM _segfiles GROUP BY ALL), "
        "parts AS (SELECT s.stream_id, t.stream_type, s.last, s.version FROM _stream_files s JOIN types t "
        "ON s.grp = t.grp AND s.files & t.mask <> 0 "
        "UNION ALL SELECT stream_id, stream_type, last, version FROM _hot_agg), "
        "h AS (SELECT stream_id, any_value(stream_type) AS stream_type, count(DISTINCT stream_type) AS types, "
        "arg_max(version, last) AS version, max(last) AS last_position FROM parts GROUP BY 1) "
        "SELECT coalesce(h.stream_id, s.stream_id), h.last_position, s.last_position FROM h FULL JOIN _streams s "
        "USING (stream_id) WHERE h.stream_id IS NULL OR s.stream_id IS NULL OR h.types > 1 "
        "OR h.stream_type IS DISTINCT FROM s.stream_type OR h.version IS DISTINCT FROM s.version "
        "OR h.last_position IS DISTINCT FROM s.last_position ORDER BY 2 NULLS LAST LIMIT 4"
    ).fetchall()
    if bad:
        at = [p for r in bad for p in r[1:] if p is not None]
        problems.append(Problem("stream heads in the catalog differ from the events (a streams row edited, deleted "
                                f"or inserted): {', '.join(repr(r[0]) for r in bad[:3])}",
                                positions=(min(at), max(at)) if at else None))
    con.register("_pairs", _table(pairs, {"stream_id": pa.string(), "segment_id": pa.int64()}))
    # the index as masks too (its entries for the scanned files); the differing bits are the entries on
    # one side only. A pair listed twice would only be a duplicate key, which the catalog refuses.
    index_bad = con.execute(
        "WITH have AS (SELECT p.stream_id, f.grp, bit_or(f.bit) AS files FROM _pairs p JOIN _segfiles f "
        "USING (segment_id) GROUP BY 1, 2) "
        "SELECT coalesce(sum(bit_count(xor(coalesce(w.files, 0), coalesce(h.files, 0)))), 0) "
        "FROM _stream_files w FULL JOIN have h ON w.stream_id = h.stream_id AND w.grp = h.grp"
    ).fetchall()[0][0]
    if index_bad:
        problems.append(Problem(f"the catalog's stream-to-segment index differs from the files in {index_bad:,} "
                                "entries (a stream's read would miss or add a segment)"))
    own = id_prefix[:8] + "-" + id_prefix[8:12] + "-8" + id_prefix[12:15] + "-a"
    con.register("_ids", _table(supplied, {"event_id": pa.string(), "position": pa.int64()}))
    ids_sql = "SELECT event_id, position FROM _hot"
    if files:
        ids_sql = f"SELECT event_id, position FROM {parquet_scan([local[p] for p in files])} UNION ALL {ids_sql}"
    where = "WHERE NOT starts_with(event_id, ?)"
    if supplied:
        ids_bad = con.execute(
            f"SELECT count(*) FROM (SELECT * FROM ({ids_sql}) {where} EXCEPT SELECT * FROM _ids) UNION ALL "
            f"SELECT count(*) FROM (SELECT * FROM _ids EXCEPT SELECT * FROM ({ids_sql}))", [own]).fetchall()
        missing, extra = ids_bad[0][0], ids_bad[1][0]
    else:  # no supplied ids: only the hot log's need looking at (files are bound by their hashes)
        missing, extra = con.execute(f"SELECT count(*) FROM _hot {where}", [own]).fetchall()[0][0], 0
    if missing or extra:
        problems.append(Problem(f"the catalog's event-id index differs from the events ({missing:,} ids "
                                f"missing, {extra:,} not in any event)"))
    return int(total)
