"""Store benchmarks: eventkit side by side with the eventsourcing library on SQLite.

Usage:
    .venv/bin/python benchmarks/bench_store.py                      # full run, prints a report
    .venv/bin/python benchmarks/bench_store.py --write BENCHMARKS.md  # and rewrites its "## Store" section
    .venv/bin/python benchmarks/bench_store.py --quick               # small sizes, a smoke run (< 20 s)
    .venv/bin/python benchmarks/bench_store.py --only bulk,single    # some benchmarks only

Every benchmark runs in its own Python process so that its peak RSS (``ru_maxrss``) is its
own. Scratch stores live under benchmarks/.work/ and are removed at the end (``--keep`` keeps
them). See benchmarks/README.md for what each benchmark measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
EVENT_TYPES = ["Deposited", "Withdrawn", "FeeCharged", "InterestPaid"]

FULL = {
    "bulk_events": 1_000_000, "bulk_streams": 10_000, "es_batch": 1_000, "bulk_repeats": 3,
    "single_appends": 5_000, "single_streams": 500,
    "big_events": 10_000_000, "big_streams": 100_000, "big_chunk": 1_000_000,
    "read_samples": 50, "query_runs": 5,
    "segments": 10_000, "segment_events": 10,
    "wide_fields": 5_000, "wide_runs": 7,
}
QUICK = {
    "bulk_events": 50_000, "bulk_streams": 1_000, "es_batch": 1_000, "bulk_repeats": 1,
    "single_appends": 300, "single_streams": 50,
    "big_events": 300_000, "big_streams": 3_000, "big_chunk": 100_000,
    "read_samples": 10, "query_runs": 3,
    "segments": 60, "segment_events": 10,
    "wide_fields": 5_000, "wide_runs": 3,
}
TARGETS = {
    "bulk_rate": 1_000_000, "bulk_ratio": 25.0, "single_ratio": 1.5,
    "read_stream_ms": 50.0, "query_ratio": 2.0, "open_ms": 200.0, "wide_read_ms": 100.0,
}

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


# ---------------------------------------------------------------------------------------------
# helpers (used in the benchmark processes)
# ---------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def fresh(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def make_frame(n: int, streams: int, seed: int):
    """n events over ``streams`` streams, interleaved at random: stream_id, event_type, amount."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = np.array([f"acct-{i:07d}" for i in range(streams)], dtype=object)
    return pd.DataFrame({
        "stream_id": ids[rng.integers(0, streams, n)],
        "event_type": np.array(EVENT_TYPES, dtype=object)[rng.integers(0, len(EVENT_TYPES), n)],
        "amount": np.round(rng.random(n) * 1000.0, 2),
    })


def es_recorder(path: Path, synchronous: str | None = None):
    """The eventsourcing library's SQLite application recorder, as its Application builds it.

    eventsourcing sets WAL but leaves ``synchronous`` at SQLite's default, FULL (2): an fsync
    per commit, the same durability as eventkit's ``durability="full"``. ``synchronous``
    overrides that on every pooled connection (for the no-fsync comparison only).
    """
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteDatastore

    if synchronous is not None:
        original = SQLiteConnectionPool._create_connection

        def create(self):  # type: ignore[no-untyped-def]
            conn = original(self)
            conn._sqlite_conn.execute(f"PRAGMA synchronous = {synchronous}")
            return conn

        SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
    datastore = SQLiteDatastore(str(path), originator_id_type="text")
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    with datastore.transaction(commit=False) as c:
        c.execute("PRAGMA synchronous")
        sync = c.fetchone()[0]
        c.execute("PRAGMA journal_mode")
        journal = c.fetchone()[0]
    return datastore, recorder, f"journal_mode={journal}, synchronous={sync}"


def ek_pragmas(store: Any) -> str:
    conn = store._catalog.conn
    return (
        f"journal_mode={conn.execute('PRAGMA journal_mode').fetchone()[0]}, "
        f"synchronous={conn.execute('PRAGMA synchronous').fetchone()[0]}"
    )


# ---------------------------------------------------------------------------------------------
# benchmark tasks: each runs in its own process and returns a dict
# ---------------------------------------------------------------------------------------------


def task_bulk_ek(p: dict) -> dict:
    """append_frame of one DataFrame into a fresh store, per durability, median of repeats."""
    import eventkit as ek

    frame = make_frame(p["bulk_events"], p["bulk_streams"], seed=1)
    out: dict[str, Any] = {"events": len(frame)}
    warm = fresh(WORK / "bulk_ek_warmup")  # first DuckDB use, lazy imports: not timed
    with ek.open_store(warm) as store:
        store.append_frame(make_frame(10_000, 100, seed=2), stream_type="account")
    shutil.rmtree(warm)
    for durability in ("normal", "full"):
        times = []
        for r in range(p["bulk_repeats"]):
            path = fresh(WORK / f"bulk_ek_{durability}")
            store = ek.open_store(path, durability=durability)
            pragmas = ek_pragmas(store)
            t = time.perf_counter()
            result = store.append_frame(frame, stream_type="account")
            times.append(time.perf_counter() - t)
            assert result.last_position - result.first_position + 1 == len(frame)
            store.close()
            shutil.rmtree(path)
        out[durability] = {"seconds": statistics.median(times), "all": times, "pragmas": pragmas}
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def task_bulk_es(p: dict) -> dict:
    """The same events saved with eventsourcing's recorder.insert_events, es_batch per call."""
    from eventsourcing.persistence import StoredEvent

    frame = make_frame(p["bulk_events"], p["bulk_streams"], seed=1)
    path = fresh(WORK / "bulk_es.sqlite")
    datastore, recorder, pragmas = es_recorder(path)
    t0 = time.perf_counter()
    # DataFrame -> StoredEvent objects: version per stream, JSON state (no domain objects, no
    # mapper/transcoder: the cheapest way to feed the recorder, favourable to eventsourcing).
    versions = (frame.groupby("stream_id", sort=False).cumcount() + 1).tolist()
    stored = [
        StoredEvent(originator_id=sid, originator_version=v, topic=et, state=json.dumps({"amount": a}).encode())
        for sid, v, et, a in zip(frame["stream_id"].tolist(), versions, frame["event_type"].tolist(), frame["amount"].tolist())
    ]
    t1 = time.perf_counter()
    batch = p["es_batch"]
    for i in range(0, len(stored), batch):
        recorder.insert_events(stored[i : i + batch])
    t2 = time.perf_counter()
    assert recorder.max_notification_id() == len(stored)
    datastore.close()
    fresh(path)
    return {
        "events": len(stored), "prepare_seconds": t1 - t0, "insert_seconds": t2 - t1, "seconds": t2 - t0,
        "pragmas": pragmas, "peak_rss_mb": peak_rss_mb(),
    }


def _single_plan(p: dict) -> list[tuple[str, float]]:
    rng = random.Random(7)
    streams = [f"acct-{i:05d}" for i in range(p["single_streams"])]
    return [(streams[i % len(streams)], round(rng.random() * 100, 2)) for i in range(p["single_appends"])]


def _latency(samples: list[float]) -> dict:
    s = sorted(samples)
    return {
        "per_second": len(s) / sum(s), "p50_ms": 1e3 * s[len(s) // 2], "p99_ms": 1e3 * s[min(len(s) - 1, int(len(s) * 0.99))],
    }


def fsync_probe(n: int = 200) -> float:
    """Median ms of writing 4 KiB and fsync-ing it: what one durable commit costs this disk now."""
    path = WORK / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    samples = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            samples.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return 1e3 * statistics.median(samples)


def task_single(p: dict) -> dict:
    """One event per append with an expected-version check, eventkit and eventsourcing
    interleaved in rounds (so both meet the same disk and CPU conditions).

    eventkit: ``store.append(sid, [ek.Event(...)], expected_version=<current>)``.
    eventsourcing: one StoredEvent per ``recorder.insert_events()`` call (what
    ``Application.save()`` does for one new event); its (originator_id, originator_version)
    primary key is the expected-version check.
    """
    import eventkit as ek
    from eventsourcing.persistence import IntegrityError, StoredEvent

    plan = _single_plan(p)
    rounds = 5
    per_round = -(-len(plan) // rounds)
    out: dict[str, Any] = {"appends": len(plan), "rounds": rounds, "fsync_ms_before": fsync_probe()}
    for durability, es_sync in (("full", None), ("normal", "NORMAL")):
        ek_path = fresh(WORK / f"single_ek_{durability}")
        es_path = fresh(WORK / f"single_es_{durability}.sqlite")
        store = ek.open_store(ek_path, durability=durability)
        datastore, recorder, es_pragmas = es_recorder(es_path, synchronous=es_sync)
        ek_cur: dict[str, int] = {}
        es_cur: dict[str, int] = {}
        ek_t: list[float] = []
        es_t: list[float] = []

        def run_ek(chunk: list) -> None:
            for sid, amount in chunk:
                expected = ek_cur.get(sid, 0)
                t = time.perf_counter()
                r = store.append(sid, [ek.Event("Deposited", {"amount": amount})],
                                 expected_version=expected or ek.NO_STREAM, stream_type="account")
                ek_t.append(time.perf_counter() - t)
                ek_cur[sid] = r.version

        def run_es(chunk: list) -> None:
            for sid, amount in chunk:
                t = time.perf_counter()
                stored = StoredEvent(originator_id=sid, originator_version=es_cur.get(sid, 0) + 1,
                                     topic="Deposited", state=json.dumps({"amount": amount}).encode())
                recorder.insert_events([stored])
                es_t.append(time.perf_counter() - t)
                es_cur[sid] = stored.originator_version

        for r in range(rounds):
            chunk = plan[r * per_round : (r + 1) * per_round]
            first, second = (run_ek, run_es) if r % 2 == 0 else (run_es, run_ek)
            first(chunk)
            second(chunk)
        # the checks are real: a stale expected version is refused by both
        try:
            store.append(plan[0][0], [ek.Event("Deposited", {"amount": 1.0})], expected_version=1)
            raise AssertionError("eventkit accepted a stale expected version")
        except ek.WrongExpectedVersion:
            pass
        try:
            recorder.insert_events([StoredEvent(plan[0][0], 1, "Deposited", b"{}")])
            raise AssertionError("eventsourcing accepted a stale version")
        except IntegrityError:
            pass
        assert store.head == len(plan)
        out[durability] = {
            "eventkit": {**_latency(ek_t), "pragmas": ek_pragmas(store)},
            "eventsourcing": {**_latency(es_t), "pragmas": es_pragmas},
        }
        store.close()
        datastore.close()
        shutil.rmtree(ek_path)
        fresh(es_path)
    out["fsync_ms_after"] = fsync_probe()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def task_build_big(p: dict) -> dict:
    """big_events over big_streams, by append_frame in big_chunk chunks, then compact()."""
    import eventkit as ek

    path = fresh(WORK / "big")
    store = ek.open_store(path)
    append_s = 0.0
    n_chunks = p["big_events"] // p["big_chunk"]
    for c in range(n_chunks):
        frame = make_frame(p["big_chunk"], p["big_streams"], seed=100 + c)
        t = time.perf_counter()
        store.append_frame(frame, stream_type="account")
        append_s += time.perf_counter() - t
        del frame
        print(f"  chunk {c + 1}/{n_chunks} appended", file=sys.stderr, flush=True)
    t = time.perf_counter()
    result = store.compact()
    compact_s = time.perf_counter() - t
    with store._catalog.read() as conn:
        segs, size = conn.execute(
            "SELECT count(*), sum(size_bytes) FROM segments WHERE retired_at IS NULL").fetchone()
    assert store.head == p["big_events"]
    store.close()
    return {
        "events": p["big_events"], "append_seconds": append_s, "compact_seconds": compact_s,
        "segments_after_compact": segs, "merged": result.merged_segments, "size_mb": size / 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def task_read_stream(p: dict) -> dict:
    """read_stream of random streams in the big store: a fresh process, first read reported apart."""
    import eventkit as ek

    store = ek.open_store(WORK / "big")
    rng = random.Random(11)
    ids = [f"acct-{rng.randrange(p['big_streams']):07d}" for _ in range(p["read_samples"] + 1)]
    samples, rows = [], []
    for sid in ids:
        t = time.perf_counter()
        df = store.read_stream(sid)
        samples.append(time.perf_counter() - t)
        rows.append(len(df))
        assert df["version"].is_monotonic_increasing and df["version"].iloc[0] == 1
    first, rest = samples[0], sorted(samples[1:])
    # where the time goes, for one stream: snapshot (catalog) vs DuckDB connection vs query
    from eventkit.store.read_snapshot import new_connection

    t = time.perf_counter()
    snap = store.snapshot(stream_id=ids[1])
    t_snap = time.perf_counter() - t
    t = time.perf_counter()
    con = new_connection()
    t_conn = time.perf_counter() - t
    con.close()
    store.close()
    return {
        "samples": len(rest), "first_ms": 1e3 * first, "median_ms": 1e3 * statistics.median(rest),
        "p90_ms": 1e3 * rest[int(len(rest) * 0.9)], "max_ms": 1e3 * rest[-1], "mean_rows": statistics.mean(rows),
        "files_per_stream": len(snap.files), "snapshot_ms": 1e3 * t_snap, "duckdb_connect_ms": 1e3 * t_conn,
        "peak_rss_mb": peak_rss_mb(),
    }


QUERY = "SELECT event_type, count(*), sum(data.amount) FROM events GROUP BY 1 ORDER BY 1"


def task_export_parquet(p: dict) -> dict:
    """Export the big store's rows (same columns, struct ``data``) to ONE plain Parquet file."""
    import eventkit as ek

    plain = WORK / "plain.parquet"
    store = ek.open_store(WORK / "big")
    con = store.connect()
    t = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM events) TO '{plain}' (FORMAT parquet)")
    export_s = time.perf_counter() - t
    con.close()
    store.close()
    return {"export_seconds": export_s, "plain_mb": plain.stat().st_size / 1e6, "peak_rss_mb": peak_rss_mb()}


def task_query(p: dict) -> dict:
    """The GROUP BY through store.sql (snapshot + view + scan) and over the plain Parquet file
    on one DuckDB connection, alternating, median of query_runs each after a warm-up of each."""
    import duckdb

    import eventkit as ek

    store = ek.open_store(WORK / "big")
    plain = duckdb.connect()
    plain.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{WORK / 'plain.parquet'}')")
    store.sql(QUERY).fetchall()  # warm-ups: page cache, first DuckDB instance
    plain.sql(QUERY).fetchall()
    ek_runs, pq_runs = [], []
    for i in range(p["query_runs"]):
        for name in (("ek", "pq") if i % 2 == 0 else ("pq", "ek")):
            t = time.perf_counter()
            if name == "ek":
                ek_result = store.sql(QUERY).fetchall()
                ek_runs.append(time.perf_counter() - t)
            else:
                pq_result = plain.sql(QUERY).fetchall()
                pq_runs.append(time.perf_counter() - t)
    assert [r[:2] for r in ek_result] == [r[:2] for r in pq_result]
    con = store.connect()
    scan = []
    for _ in range(p["query_runs"]):
        t = time.perf_counter()
        con.sql(QUERY).fetchall()
        scan.append(time.perf_counter() - t)
    con.close()
    plain.close()
    store.close()
    return {
        "eventkit_median_s": statistics.median(ek_runs), "eventkit_runs": ek_runs,
        "parquet_median_s": statistics.median(pq_runs), "parquet_runs": pq_runs,
        "scan_only_median_s": statistics.median(scan), "rows": sum(r[1] for r in ek_result),
        "peak_rss_mb": peak_rss_mb(),
    }


def task_build_segments(p: dict) -> dict:
    """A store of many small segments: one append_frame of segment_events rows each, bulk_threshold=1."""
    import pyarrow as pa

    import eventkit as ek

    n_seg, per = p["segments"], p["segment_events"]
    frame = make_frame(n_seg * per, 1_000, seed=5)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = fresh(WORK / "segments")
    # auto_compact=False: this measures a store of many segments (automatic compaction would merge them;
    # its own benchmark is bench_scale.py --tiny)
    store = ek.open_store(path, bulk_threshold=1, auto_compact=False)
    t = time.perf_counter()
    for i in range(n_seg):
        store.append_frame(table.slice(i * per, per), stream_type="account")
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1}/{n_seg} segments", file=sys.stderr, flush=True)
    build_s = time.perf_counter() - t
    with store._catalog.read() as conn:
        segs = conn.execute("SELECT count(*) FROM segments WHERE retired_at IS NULL").fetchone()[0]
    store.close()
    assert segs == n_seg, segs
    return {"segments": segs, "build_seconds": build_s, "per_append_ms": 1e3 * build_s / n_seg, "peak_rss_mb": peak_rss_mb()}


def task_open_segments(p: dict) -> dict:
    """In a fresh process: open_store, then the first store.sql('select count(*) from events')."""
    import eventkit as ek

    path = WORK / "segments"
    t = time.perf_counter()
    store = ek.open_store(path)
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    rel = store.sql("SELECT count(*) FROM events")
    sql_s = time.perf_counter() - t
    t = time.perf_counter()
    count = rel.fetchall()[0][0]
    fetch_s = time.perf_counter() - t
    t = time.perf_counter()
    store.sql("SELECT count(*) FROM events").fetchall()
    second_s = time.perf_counter() - t
    t = time.perf_counter()
    snap = store.snapshot()
    snap_s = time.perf_counter() - t
    store.close()
    assert count == p["segments"] * p["segment_events"]
    return {
        "segments": len(snap.files), "open_ms": 1e3 * open_s, "first_sql_ms": 1e3 * sql_s, "first_fetch_ms": 1e3 * fetch_s,
        "first_query_total_ms": 1e3 * (sql_s + fetch_s), "second_query_ms": 1e3 * second_s, "snapshot_ms": 1e3 * snap_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def task_wide(p: dict) -> dict:
    """Small reads of a store whose payload has thousands of fields (issue 7, item 18).

    Two events with ``wide_fields`` payload fields, read from the hot log and, after a seal, from
    a segment: ``read_all()`` and ``read_stream()``, best and median of ``wide_runs`` after one
    warm-up read (which also reports the first read in the process).
    """
    import eventkit as ek

    path = fresh(WORK / "wide")
    store = ek.open_store(path)
    payload = {f"f{i:05d}": i for i in range(p["wide_fields"])}
    store.append("w", [ek.Event("Wide", payload), ek.Event("Wide", payload)])
    out: dict = {"fields": p["wide_fields"], "peak_rss_mb": 0.0}
    for where in ("hot", "sealed"):
        if where == "sealed":
            store.seal()
        for name, read in (("read_all", store.read_all), ("read_stream", lambda: store.read_stream("w"))):
            t = time.perf_counter()
            df = read()
            first = time.perf_counter() - t
            assert df.shape == (2, p["wide_fields"] + 9), df.shape
            runs = []
            for _ in range(p["wide_runs"]):
                t = time.perf_counter()
                read()
                runs.append(time.perf_counter() - t)
            out[f"{where}_{name}_first_ms"] = 1e3 * first
            out[f"{where}_{name}_median_ms"] = 1e3 * statistics.median(runs)
            out[f"{where}_{name}_best_ms"] = 1e3 * min(runs)
    store.close()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


TASKS: dict[str, Callable[[dict], dict]] = {
    "bulk_ek": task_bulk_ek, "bulk_es": task_bulk_es,
    "single": task_single,
    "build_big": task_build_big, "read_stream": task_read_stream,
    "export_parquet": task_export_parquet, "query": task_query,
    "build_segments": task_build_segments, "open_segments": task_open_segments,
    "wide": task_wide,
}
GROUPS = {
    "bulk": ["bulk_ek", "bulk_es"],
    "single": ["single"],
    "big": ["build_big", "read_stream", "export_parquet", "query"],
    "segments": ["build_segments", "open_segments"],
    "wide": ["wide"],
}


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


def cpu_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wait_idle(max_wait: float) -> float:
    """Wait (up to max_wait s) until other processes use under 0.15 core; return what they use."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = cpu_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        other = (cpu_busy_seconds() - b0) / (time.monotonic() - t0)
        if other < 0.15 or time.monotonic() >= deadline:
            return other
        print(f"[bench] waiting: other processes use {other:.1f} cores", file=sys.stderr, flush=True)


def run_task(name: str, params: dict, wait: float = 0.0) -> dict:
    other_before = wait_idle(wait) if wait else None
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    busy0, child0 = cpu_busy_seconds(), children_cpu_seconds()
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--task", name, "--params", json.dumps(params)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark task {name} failed (exit {proc.returncode})")
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    result["wall_seconds"] = time.perf_counter() - t
    # cores used by OTHER processes while this benchmark ran (all CPU minus this benchmark's)
    other = (cpu_busy_seconds() - busy0) - (children_cpu_seconds() - child0)
    result["other_cores"] = max(0.0, other / result["wall_seconds"])
    result["other_cores_before"] = other_before
    print(f"[bench] {name} done in {result['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    return result


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def render(results: dict, params: dict, info: dict, command: str, quick: bool) -> tuple[str, str]:
    """(header, store section) of BENCHMARKS.md."""
    header = "\n".join([
        "# eventkit benchmarks",
        "",
        "Machine and software of the last run:",
        "",
        f"- CPU: {info['cpu']}, `nproc` = {info['nproc']}, memory {info['memory']}",
        f"- OS: {info['os']}",
        f"- Python {info['python']}, duckdb {info['duckdb']}, pyarrow {info['pyarrow']}, pandas {info['pandas']}, "
        f"numpy {info['numpy']}, eventsourcing {info['eventsourcing']}, SQLite {info['sqlite']}",
        f"- Date: {info['date']}",
        "",
        "How to reproduce: `make bench` (runs `benchmarks/bench_store.py --write BENCHMARKS.md`, then "
        "`benchmarks/bench_folds.py --write BENCHMARKS.md`, with the project's .venv). Each section is "
        "rewritten by its own script; see benchmarks/README.md.",
        "",
    ])
    L: list[str] = ["## Store", ""]
    L.append(f"Command: `{command}` ({'QUICK smoke sizes: not the real figures' if quick else 'full sizes'}), "
             f"{info['date']}. Every benchmark runs in its own process; peak RSS is that process's "
             "`ru_maxrss`. eventkit and the eventsourcing library (its `SQLiteApplicationRecorder`, "
             "the recorder its `Application` uses with `PERSISTENCE_MODULE=eventsourcing.sqlite`) run in "
             "the same invocation on the same data.")
    L.append("")
    rows: list[tuple[str, str, str, str]] = []  # benchmark, result, target, verdict
    misses: list[str] = []

    if "bulk_ek" in results and "bulk_es" in results:
        ek_, es = results["bulk_ek"], results["bulk_es"]
        n = ek_["events"]
        ek_norm, ek_full = n / ek_["normal"]["seconds"], n / ek_["full"]["seconds"]
        es_rate, es_insert = n / es["seconds"], n / es["insert_seconds"]
        ratio, ratio_ins = ek_full / es_rate, ek_full / es_insert
        L += [
            f"### 1. Bulk append: {n:,} events, {params['bulk_streams']:,} streams, from a pandas DataFrame",
            "",
            "eventkit: one `store.append_frame(df)` into a fresh store (median of "
            f"{params['bulk_repeats']}). eventsourcing: the same rows turned into `StoredEvent`s "
            f"(JSON state, version per stream) and saved with `recorder.insert_events()` "
            f"{params['es_batch']:,} per call; timed from the same DataFrame, preparation included "
            "(insert-only shown too).",
            "",
            "| | seconds | events/s | peak RSS |",
            "|---|---:|---:|---:|",
            f"| eventkit, durability=\"normal\" ({ek_['normal']['pragmas']}) | {ek_['normal']['seconds']:.2f} | {fmt_rate(ek_norm)} | {ek_['peak_rss_mb']:.0f} MB |",
            f"| eventkit, durability=\"full\" ({ek_['full']['pragmas']}, segment fsync) | {ek_['full']['seconds']:.2f} | {fmt_rate(ek_full)} | (same process) |",
            f"| eventsourcing, DataFrame to stored ({es['pragmas']}) | {es['seconds']:.2f} | {fmt_rate(es_rate)} | {es['peak_rss_mb']:.0f} MB |",
            f"| eventsourcing, `insert_events` calls only | {es['insert_seconds']:.2f} | {fmt_rate(es_insert)} | |",
            "",
            f"Ratio at the same durability (eventkit full / eventsourcing): **{ratio:.1f}x** "
            f"(insert-only baseline: {ratio_ins:.1f}x; eventkit normal / eventsourcing: {ek_norm / es_rate:.1f}x).",
            "",
        ]
        rows.append(("bulk append rate (durability normal)", f"{fmt_rate(ek_norm)} ev/s", ">= 1,000,000 ev/s", verdict(ek_norm >= TARGETS["bulk_rate"])))
        rows.append(("bulk append vs eventsourcing (same durability)", f"{ratio:.1f}x", ">= 25x", verdict(ratio >= TARGETS["bulk_ratio"])))
        if ek_norm < TARGETS["bulk_rate"]:
            misses.append("bulk_rate")
        if ratio < TARGETS["bulk_ratio"]:
            misses.append("bulk_ratio")

    if "single" in results:
        r = results["single"]
        ek_full, es_full = r["full"]["eventkit"], r["full"]["eventsourcing"]
        ek_norm, es_norm = r["normal"]["eventkit"], r["normal"]["eventsourcing"]
        ratio_full = ek_full["per_second"] / es_full["per_second"]
        ratio_norm = ek_norm["per_second"] / es_norm["per_second"]
        L += [
            f"### 2. Single-event appends with an expected-version check: {r['appends']:,} appends over {params['single_streams']:,} streams",
            "",
            "eventkit: `store.append(sid, [ek.Event('Deposited', {'amount': x})], expected_version=<current>)`. "
            "eventsourcing: one `StoredEvent` (version = current + 1) per `recorder.insert_events()` call, "
            "which is what `Application.save()` does for one new event; the (originator_id, originator_version) "
            "primary key is its optimistic-concurrency check. Both refuse a stale version (checked). The two "
            f"libraries run interleaved in {r['rounds']} rounds in one process, so they meet the same disk.",
            "",
            "| | appends/s | p50 | p99 |",
            "|---|---:|---:|---:|",
        ]
        for dur, label in (("full", "fsync per commit"), ("normal", "no fsync per commit")):
            for lib in ("eventkit", "eventsourcing"):
                x = r[dur][lib]
                note = ""
                if lib == "eventsourcing":
                    note = " (its default)" if dur == "full" else " (synchronous patched to NORMAL on its connections)"
                L.append(f"| {lib}, {label}: {x['pragmas']}{note} | {fmt_rate(x['per_second'])} | {x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms |")
        L += [
            "",
            f"Ratio with an fsync per commit (synchronous=FULL, both): **{ratio_full:.2f}x**; "
            f"without (synchronous=NORMAL, both): {ratio_norm:.2f}x. One 4 KiB write + fsync on this disk: "
            f"median {r['fsync_ms_before']:.3f} ms before, {r['fsync_ms_after']:.3f} ms after. Peak RSS {r['peak_rss_mb']:.0f} MB.",
            "",
        ]
        rows.append(("single appends vs eventsourcing (fsync per commit)", f"{ratio_full:.2f}x ({fmt_rate(ek_full['per_second'])}/s vs {fmt_rate(es_full['per_second'])}/s)", ">= 1.5x", verdict(ratio_full >= TARGETS["single_ratio"])))
        rows.append(("single appends, durability normal", f"{fmt_rate(ek_norm['per_second'])}/s ({ratio_norm:.2f}x eventsourcing at NORMAL)", "(reported)", ""))
        if ratio_full < TARGETS["single_ratio"]:
            misses.append("single_ratio")

    if "build_big" in results:
        b = results["build_big"]
        L += [
            f"### 3–4. A store of {b['events']:,} events / {params['big_streams']:,} streams",
            "",
            f"Built with `append_frame` in {params['big_chunk']:,}-event chunks ({b['append_seconds']:.1f} s, "
            f"{fmt_rate(b['events'] / b['append_seconds'])} events/s), then `store.compact()` "
            f"({b['compact_seconds']:.1f} s; {b['merged']} segments merged, {b['segments_after_compact']} live segments, "
            f"{b['size_mb']:.0f} MB). Peak RSS of the build: {b['peak_rss_mb']:.0f} MB.",
            "",
        ]
    if "read_stream" in results:
        r = results["read_stream"]
        L += [
            f"**read_stream** of one stream (about {r['mean_rows']:.0f} events each), {r['samples']} random streams, "
            "fresh process:",
            "",
            "| median | p90 | max | first read in the process | peak RSS |",
            "|---:|---:|---:|---:|---:|",
            f"| {r['median_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['first_ms']:.1f} ms | {r['peak_rss_mb']:.0f} MB |",
            "",
            f"Of one read: catalog snapshot {r['snapshot_ms']:.1f} ms (lists {r['files_per_stream']} segment files for the "
            f"stream); the rest is the Parquet scan with row-group pruning on stream_id and the pandas conversion. "
            f"Reads use a cursor on the store's one DuckDB instance: opening a new DuckDB connection would "
            f"add {r['duckdb_connect_ms']:.1f} ms (paid once, by the first read in the process).",
            "",
        ]
        rows.append((f"read_stream median, {params['big_events'] / 1e6:g}M-event store", f"{r['median_ms']:.1f} ms", "< 50 ms", verdict(r["median_ms"] < TARGETS["read_stream_ms"])))
        if r["median_ms"] >= TARGETS["read_stream_ms"]:
            misses.append("read_stream")
    if "query" in results:
        q = results["query"]
        x = results.get("export_parquet", {})
        ratio = q["eventkit_median_s"] / q["parquet_median_s"]
        runs = lambda xs: ", ".join(f"{v * 1e3:.0f}" for v in xs)  # noqa: E731
        L += [
            f"**GROUP BY** `{QUERY}` over {q['rows']:,} events, median of {params['query_runs']} (alternating, after a "
            "warm-up of each):",
            "",
            "| | median | runs (ms) |",
            "|---|---:|---|",
            f"| eventkit `store.sql(q).fetchall()` (snapshot + view + scan) | {q['eventkit_median_s'] * 1e3:.0f} ms | {runs(q['eventkit_runs'])} |",
            f"| eventkit, scan only (query on an open `store.connect()`) | {q['scan_only_median_s'] * 1e3:.0f} ms | |",
            f"| DuckDB over one plain Parquet file ({x.get('plain_mb', 0):.0f} MB, same rows, struct `data`, "
            f"exported with `COPY` in {x.get('export_seconds', 0):.1f} s) | {q['parquet_median_s'] * 1e3:.0f} ms | {runs(q['parquet_runs'])} |",
            "",
            f"Ratio eventkit / plain Parquet: **{ratio:.2f}x**. Peak RSS: query process {q['peak_rss_mb']:.0f} MB, "
            f"export process {x.get('peak_rss_mb', 0):.0f} MB.",
            "",
        ]
        rows.append((f"GROUP BY over {params['big_events'] / 1e6:g}M events vs one Parquet file", f"{ratio:.2f}x", "<= 2x", verdict(ratio <= TARGETS["query_ratio"])))
        if ratio > TARGETS["query_ratio"]:
            misses.append("query_ratio")
    if "build_segments" in results and "open_segments" in results:
        b, o = results["build_segments"], results["open_segments"]
        L += [
            f"### 5. Opening a store of {o['segments']:,} segments",
            "",
            f"Built by {b['segments']:,} `append_frame` calls of {params['segment_events']} events with "
            f"`bulk_threshold=1` ({b['build_seconds']:.0f} s, {b['per_append_ms']:.1f} ms per segment-writing append, "
            f"peak RSS {b['peak_rss_mb']:.0f} MB). Then, in a fresh process:",
            "",
            "| `ek.open_store(path)` | first `store.sql('select count(*) from events')` | its `fetchall()` | first query total | second query | peak RSS |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {o['open_ms']:.1f} ms | {o['first_sql_ms']:.0f} ms | {o['first_fetch_ms']:.0f} ms | {o['first_query_total_ms']:.0f} ms | "
            f"{o['second_query_ms']:.0f} ms | {o['peak_rss_mb']:.0f} MB |",
            "",
            f"(The catalog snapshot alone takes {o['snapshot_ms']:.1f} ms; the rest of a query is DuckDB reading "
            f"{o['segments']:,} Parquet footers.)",
            "",
        ]
        rows.append((f"open a store of {o['segments']:,} segments", f"{o['open_ms']:.1f} ms", "< 200 ms", verdict(o["open_ms"] < TARGETS["open_ms"])))
        rows.append(("first query on it (count(*))", f"{o['first_query_total_ms']:.0f} ms", "(reported)", ""))

    if "wide" in results:
        w = results["wide"]
        L += [
            f"### 6. Small reads with a wide payload ({w['fields']:,} fields)",
            "",
            "Two events whose payload has that many fields; median (best) of the repeated reads, and the "
            "first read in the process:",
            "",
            "| events in | `read_all()` | `read_stream()` | first `read_all()` |",
            "|---|---:|---:|---:|",
        ]
        for where in ("hot", "sealed"):
            L.append(f"| {'hot log' if where == 'hot' else 'a segment'} | {w[f'{where}_read_all_median_ms']:.0f} "
                     f"({w[f'{where}_read_all_best_ms']:.0f}) ms | {w[f'{where}_read_stream_median_ms']:.0f} "
                     f"({w[f'{where}_read_stream_best_ms']:.0f}) ms | {w[f'{where}_read_all_first_ms']:.0f} ms |")
        L += ["", f"Peak RSS {w['peak_rss_mb']:.0f} MB.", ""]
        worst = max(w["hot_read_all_median_ms"], w["sealed_read_all_median_ms"], w["sealed_read_stream_median_ms"])
        rows.append((f"read_all / read_stream of 2 events with {w['fields']:,} payload fields (worst median)",
                     f"{worst:.0f} ms", "< 100 ms", verdict(worst < TARGETS["wide_read_ms"])))

    summary = ["### Summary", "", "| benchmark | result | target | |", "|---|---:|---:|---|"]
    summary += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    loads = {k: v.get("other_cores", 0.0) for k, v in results.items()}
    busy = [k for k, v in loads.items() if v > 0.25]
    summary.append("")
    summary.append(f"Cores used by other processes while each benchmark ran (of {info['nproc']}): "
                   + ", ".join(f"{k} {v:.2f}" for k, v in loads.items())
                   + (". **The machine was shared during " + ", ".join(busy) + "; those figures are pessimistic.**"
                      if busy else " (the machine was otherwise idle)."))
    summary.append("")
    body = L[:3] + summary + L[3:]
    return header, "\n".join(body).rstrip() + "\n"


NOTES_MARK = "<!-- store-notes -->"


def write_markdown(path: Path, header: str, section: str) -> None:
    """Rewrite the header and the '## Store' section; keep every other '## ' section as is.

    Text between the NOTES_MARK comment lines inside the old Store section (hand-written
    diagnosis) is carried over.
    """
    old = path.read_text() if path.exists() else ""
    parts = re.split(r"(?m)^(?=## )", old)
    others = [p for p in parts[1:] if not p.startswith("## Store")]
    old_store = next((p for p in parts[1:] if p.startswith("## Store")), "")
    notes = ""
    if old_store.count(NOTES_MARK) >= 2:
        notes = old_store[old_store.index(NOTES_MARK): old_store.rindex(NOTES_MARK) + len(NOTES_MARK)]
    store = section + ("\n" + notes + "\n" if notes else "")
    out = header.rstrip() + "\n\n" + store
    for p in others:
        out += "\n" + p.rstrip() + "\n"
    path.write_text(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--write", metavar="PATH", help="rewrite the '## Store' section of this Markdown file")
    ap.add_argument("--only", help="comma-separated groups: " + ",".join(GROUPS))
    ap.add_argument("--keep", action="store_true", help="keep the scratch stores in benchmarks/.work/")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                    help="before each benchmark, wait up to this long for other processes to go quiet "
                         "(default 30 for a full run, 0 with --quick)")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.task:  # a benchmark process
        result = TASKS[args.task](json.loads(args.params))
        print("RESULT " + json.dumps(result), flush=True)
        return

    params = QUICK if args.quick else FULL
    if args.wait_idle is None:
        args.wait_idle = 0.0 if args.quick else 30.0
    groups = args.only.split(",") if args.only else list(GROUPS)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown group(s) {sorted(unknown)}; choose from {list(GROUPS)}")
    command = "make bench" if not args.quick else "benchmarks/bench_store.py --quick"
    if args.write and not args.quick and not args.only:
        command = f".venv/bin/python benchmarks/bench_store.py --write {args.write}  (make bench)"
    elif len(sys.argv) > 1:
        command = ".venv/bin/python benchmarks/bench_store.py " + " ".join(sys.argv[1:])
    t0 = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    try:
        for g in groups:
            for name in GROUPS[g]:
                results[name] = run_task(name, params, args.wait_idle)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    info = machine()
    header, section = render(results, params, info, command, args.quick)
    total = time.perf_counter() - t0
    section = section.rstrip() + f"\n\nTotal benchmark time: {total / 60:.1f} min.\n"
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "params": params, "results": results}, indent=2))
    if args.write:
        write_markdown(Path(args.write), header, section)
        print(f"[bench] wrote the Store section of {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
