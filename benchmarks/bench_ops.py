"""Operational benchmarks: point reads and appends, eventkit side by side with eventsourcing's SQLite recorder.

Usage:
    .venv/bin/python benchmarks/bench_ops.py                       # full run, prints a report
    .venv/bin/python benchmarks/bench_ops.py --write BENCHMARKS.md  # and rewrites its "## Operational reads and appends"
    .venv/bin/python benchmarks/bench_ops.py --quick                # small sizes, a smoke run
    .venv/bin/python benchmarks/bench_ops.py --sealed-events 10000000 --sealed-streams 100000 --write BENCHMARKS.md
                                            # the issue's sealed store (built once, ~4 min, then reused)
    .venv/bin/python benchmarks/bench_ops.py --only sealed --sealed-events 10000000 --sealed-streams 100000

What is timed (each figure in the same run, on the same disk, interleaved where it matters):

- point reads on a store with ``hot_events`` events in the catalog's hot log, and the same events in
  eventsourcing's SQLite recorder: a stream's newest event (``read_stream(backwards=True, limit=1)``
  vs ``select_events(desc=True, limit=1)``), a page of 10 from a random position (``read_all(from_position,
  limit=10)`` vs ``select_notifications(start, 10)``), 1,000 from a position, and the head;
- point reads in a sealed store of ``sealed_events`` events (Parquet segments; the issue's target is
  10M events over 100k streams: ``--sealed-events 10000000 --sealed-streams 100000``, built once under
  ``benchmarks/.work-ops/`` and reused) beside eventsourcing's recorder holding the same events, and what
  the segments' row-group size costs point reads and scans;
- sequential one-event appends with an expected version at both durabilities (fsync per commit or not);
- 8 concurrent writers (threads, one store object each) at fsync per commit, and 8 writer processes;
- the eventsourcing recorder suite's own ``test_performance`` for both backends.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import shutil
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "ops"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _machine import machine  # noqa: E402
from eventkit.store.segment_files import ROW_GROUP_SIZE  # noqa: E402

FULL = {"hot_events": 50_000, "hot_streams": 1_000, "samples": 500, "sealed_events": 1_000_000,
        "sealed_streams": 10_000, "sealed_samples": 50, "appends": 2_000, "writers": 8, "per_writer": 250,
        "per_process": 100, "rounds": 3}
QUICK = {"hot_events": 5_000, "hot_streams": 100, "samples": 100, "sealed_events": 50_000,
         "sealed_streams": 1_000, "sealed_samples": 10, "appends": 200, "writers": 8, "per_writer": 25,
         "per_process": 10, "rounds": 1}
SECTION = "## Operational reads and appends"


def fresh(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


_ES_SYNC = {"value": "FULL"}  # the synchronous setting of eventsourcing connections made from now on


def es_recorder(path: Path, synchronous: str = "FULL", *, create: bool = True) -> tuple[Any, Any]:
    """eventsourcing's SQLite application recorder (WAL; synchronous FULL is its default).

    Its pool makes connections on demand (one per thread): the class hook below sets ``synchronous``
    on each as the benchmark phase asks, as an application configuring its connections would.
    """
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteDatastore

    if not getattr(SQLiteConnectionPool, "_bench_hooked", False):
        original = SQLiteConnectionPool._create_connection

        def create(self):  # type: ignore[no-untyped-def]
            conn = original(self)
            conn._sqlite_conn.execute(f"PRAGMA synchronous = {_ES_SYNC['value']}")
            return conn

        SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
        SQLiteConnectionPool._bench_hooked = True
    _ES_SYNC["value"] = synchronous
    datastore = SQLiteDatastore(str(path), originator_id_type="text")
    recorder = SQLiteApplicationRecorder(datastore)
    if create:
        recorder.create_table()
    with datastore.transaction(commit=False) as c:
        c.execute("PRAGMA synchronous")
        assert c.fetchone()[0] == {"FULL": 2, "NORMAL": 1}[synchronous]
    return datastore, recorder


def stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"p50_ms": 1e3 * s[len(s) // 2], "p99_ms": 1e3 * s[min(len(s) - 1, int(len(s) * 0.99))], "n": len(s)}


def timed(fn: Callable[[Any], Any], args: list[Any]) -> dict:
    """Wall-clock p50/p99 of ``fn`` over ``args``, and the p50 of the CPU time this thread spent in it:
    on a shared machine the wall clock waits for the cores, the CPU time is the read's own work."""
    fn(args[0])  # warm
    out, cpu = [], []
    for a in args:
        c = time.thread_time()
        t = time.perf_counter()
        fn(a)
        out.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return {**stats(out), "cpu_p50_ms": 1e3 * sorted(cpu)[len(cpu) // 2]}


def bench_hot_reads(p: dict) -> dict:
    import pandas as pd
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek

    n, k = p["hot_events"], p["hot_streams"]
    store = ek.open_store(fresh(WORK / "hot"), bulk_threshold=10**9, seal_threshold=10**9)
    sids = [f"acct-{i % k:05d}" for i in range(n)]
    for start in range(0, n, 4_000):
        store.append_frame(pd.DataFrame({"stream_id": sids[start:start + 4_000], "event_type": "Deposited",
                                         "amount": [float(i) for i in range(start, min(n, start + 4_000))]}))
    datastore, recorder = es_recorder(fresh(WORK / "hot_es.sqlite"))
    versions: dict[str, int] = {}
    batch = []
    for i, sid in enumerate(sids):
        versions[sid] = versions.get(sid, 0) + 1
        batch.append(StoredEvent(sid, versions[sid], "Deposited", json.dumps({"amount": float(i)}).encode()))
        if len(batch) == 1_000:
            recorder.insert_events(batch)
            batch = []
    if batch:
        recorder.insert_events(batch)
    assert store.info().hot_events == n
    rng = random.Random(3)
    streams = [rng.choice(sids) for _ in range(p["samples"])]
    starts = [rng.randint(1, n - 1_000) for _ in range(p["samples"])]
    late = [rng.randint(n - 1_000, n - 10) for _ in range(p["samples"])]
    early = [rng.randint(1, 1_000) for _ in range(p["samples"])]
    out = {
        "newest, eventkit records": timed(lambda s: store.read_stream(s, backwards=True, limit=1, output="records"), streams),
        "newest, eventkit DataFrame": timed(lambda s: store.read_stream(s, backwards=True, limit=1), streams[:100]),
        "newest, eventsourcing": timed(lambda s: recorder.select_events(s, desc=True, limit=1), streams),
        "page of 10 (early positions), eventkit records": timed(lambda x: store.read_all(from_position=x, limit=10, output="records"), early),
        "page of 10 (late positions), eventkit records": timed(lambda x: store.read_all(from_position=x, limit=10, output="records"), late),
        "page of 10, eventkit DataFrame": timed(lambda x: store.read_all(from_position=x, limit=10), starts[:100]),
        "page of 10, eventsourcing": timed(lambda x: recorder.select_notifications(x, 10), starts),
        "page of 100, eventkit records": timed(lambda x: store.read_all(from_position=x, limit=100, output="records"), starts),
        "page of 100, eventsourcing": timed(lambda x: recorder.select_notifications(x, 100), starts),
        "page of 1,000, eventkit records": timed(lambda x: store.read_all(from_position=x, limit=1_000, output="records"), starts[:100]),
        "page of 1,000, eventsourcing": timed(lambda x: recorder.select_notifications(x, 1_000), starts[:100]),
        "head, eventkit store.head": timed(lambda _: store.head, starts),
        "head, eventsourcing max_notification_id()": timed(lambda _: recorder.max_notification_id(), starts),
    }
    store.close()
    datastore.close()
    return out


# The sealed store (and eventsourcing's database of the same events) take minutes to build at 10M events:
# they are kept here between runs, one folder per size and segment layout (not benchmarks/.work, which
# bench_store.py removes). The folder ignores itself.
SEALED_WORK = HERE / ".work-ops"


def sealed_store(p: dict) -> tuple[Any, Path]:
    """The sealed store of ``sealed_events`` events over ``sealed_streams`` streams, built once and reused.

    Events are appended in 1M-event frames, every stream in every frame (so each segment holds every
    stream, as a long-lived store's do), then compacted (2M-event segments); the folder's name carries
    the sizes and the segment row-group size, so a change of layout builds a new store.
    """
    import numpy as np
    import pandas as pd

    import eventkit as ek
    from eventkit.store.segment_files import ROW_GROUP_SIZE

    n, k = p["sealed_events"], p["sealed_streams"]
    SEALED_WORK.mkdir(parents=True, exist_ok=True)
    (SEALED_WORK / ".gitignore").write_text("*\n")
    path = SEALED_WORK / f"sealed-{n}x{k}-rg{ROW_GROUP_SIZE}"
    done = path / "BUILT"
    if not done.exists():
        t0 = time.perf_counter()
        store = ek.open_store(fresh(path), auto_compact=False)
        chunk = 1_000_000
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            store.append_frame(pd.DataFrame({"stream_id": [f"acct-{i % k:05d}" for i in range(start, start + m)],
                                             "event_type": "Deposited", "amount": np.arange(start, start + m, dtype=float)}))
        store.compact()
        store.gc()
        store.close()
        done.write_text(f"built in {time.perf_counter() - t0:.0f} s\n")
        print(f"sealed store built: {done.read_text().strip()}", file=sys.stderr)
    return ek.open_store(path), path


def sealed_es(p: dict) -> tuple[Any, Any]:
    """eventsourcing's SQLite recorder holding the same events as :func:`sealed_store`, built once.

    Built with the recorder's own insert statement, many rows per transaction (building it one
    ``insert_events`` call per event would take an hour at 10M events).
    """
    n, k = p["sealed_events"], p["sealed_streams"]
    db = SEALED_WORK / f"sealed-es-{n}x{k}.sqlite"
    done = db.with_suffix(".built")
    if not done.exists():
        datastore, recorder = es_recorder(fresh(db), "NORMAL")
        chunk = 200_000
        with datastore.transaction(commit=True) as c:
            for start in range(0, n, chunk):
                rows = [(f"acct-{i % k:05d}", i // k + 1, "Deposited", json.dumps({"amount": float(i)}).encode())
                        for i in range(start, min(n, start + chunk))]
                c.executemany(recorder.insert_events_statement, rows)
        datastore.close()
        done.write_text("ok\n")
    return es_recorder(db)


def bench_row_groups(segment: Path, sizes: tuple[int, ...] = (122_880, 32_768, 16_384, 8_192)) -> dict:
    """What the segment row-group size costs: one segment rewritten with each size, side by side.

    For each: the point read's unit of work (pyarrow decoding one row group, every column, as
    ``point_reads`` does), a fold-like DuckDB scan of the whole file (group by stream: sum, count,
    arg_max) and a filtered count, and the file size.
    """
    import statistics

    import duckdb
    import pyarrow.parquet as pq

    con = duckdb.connect()
    files = {}
    for size in sizes:
        f = SEALED_WORK / f"layout-{segment.stem}-rg{size}.parquet"
        if not f.exists():
            con.execute(f"COPY (SELECT * FROM read_parquet('{segment}', hive_partitioning = false)) TO '{f}' "
                        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {size})")
        files[size] = f
    scans = {
        "fold scan": "SELECT stream_id, sum(data.amount), count(*), arg_max(event_type, position) FROM read_parquet('{f}', "
                     "hive_partitioning = false) GROUP BY 1",
        "filtered count": "SELECT count(*) FROM read_parquet('{f}', hive_partitioning = false) WHERE data.amount > 5e6",
    }
    out: dict[str, dict] = {size: {"bytes": files[size].stat().st_size} for size in sizes}
    for _ in range(3):  # rounds alternate the sizes: the machine is shared
        for size, f in files.items():
            meta = pq.read_metadata(f)
            rng = random.Random(size)
            times = []
            for _ in range(30):
                g = rng.randrange(meta.num_row_groups)
                t = time.perf_counter()
                pq.ParquetFile(f, metadata=meta, read_dictionary=["stream_id", "stream_type", "event_type"]
                               ).read_row_groups([g], use_threads=False)
                times.append(time.perf_counter() - t)
            row = out[size]
            row["row groups"] = meta.num_row_groups
            row["decode one group ms"] = min(row.get("decode one group ms", 1e9), 1e3 * statistics.median(times))
            for name, q in scans.items():
                t = time.perf_counter()
                con.execute(q.format(f=f)).fetchall()
                row[f"{name} ms"] = min(row.get(f"{name} ms", 1e9), 1e3 * (time.perf_counter() - t))
    return {"segment events": pq.read_metadata(segment).num_rows, "sizes": out}


def bench_sealed_reads(p: dict) -> dict:
    store, path = sealed_store(p)
    datastore, recorder = sealed_es(p)
    n, k = p["sealed_events"], p["sealed_streams"]
    info = store.info()
    assert info.hot_events == 0 and store.head == n
    rng = random.Random(5)
    m = p["sealed_samples"]
    streams = [f"acct-{rng.randrange(k):05d}" for _ in range(4 * m)]  # point reads are cheap: more samples
    positions = [rng.randint(1, n - 10) for _ in range(m)]
    per_stream = n // k

    def records(**kw: Any) -> Callable[[str], Any]:
        return lambda s: store.read_stream(s, output="records", **kw)

    out = {
        "segments": info.segments,
        "newest, eventkit records": timed(records(backwards=True, limit=1), streams),
        "newest, eventkit DataFrame": timed(lambda s: store.read_stream(s, backwards=True, limit=1), streams[:m]),
        "newest, eventsourcing": timed(lambda s: recorder.select_events(s, desc=True, limit=1), streams),
        "newest 10, eventkit records": timed(records(backwards=True, limit=10), streams),
        "newest 10, eventsourcing": timed(lambda s: recorder.select_events(s, desc=True, limit=10), streams),
        "first 10, eventkit records": timed(records(limit=10), streams),
        "first 10, eventsourcing": timed(lambda s: recorder.select_events(s, limit=10), streams),
        f"whole stream ({per_stream} events), eventkit records": timed(records(), streams[:m]),
        f"whole stream ({per_stream} events), eventsourcing": timed(lambda s: recorder.select_events(s), streams[:m]),
        "page of 10, eventkit records": timed(lambda x: store.read_all(from_position=x, limit=10, output="records"),
                                              positions[:m]),
        "page of 10, eventsourcing": timed(lambda x: recorder.select_notifications(x, 10), positions),
        "head": timed(lambda _: store.head, streams),
    }
    store.close()
    datastore.close()
    out["layouts"] = bench_row_groups(max(path.joinpath("segments").rglob("*.parquet"), key=lambda f: f.stat().st_size))
    return out


def bench_appends(p: dict) -> dict:
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek
    from eventkit.interop.eventsourcing import EventKitApplicationRecorder

    out: dict[str, Any] = {}
    rng = random.Random(7)
    plan = [(f"acct-{i % 200:05d}", round(rng.random() * 100, 2)) for i in range(p["appends"])]
    for durability, sync in (("full", "FULL"), ("normal", "NORMAL")):
        store = ek.open_store(fresh(WORK / f"app_{durability}"), durability=durability)
        via = ek.open_store(fresh(WORK / f"app_rec_{durability}"), durability=durability)
        rec = EventKitApplicationRecorder(via)
        datastore, recorder = es_recorder(fresh(WORK / f"app_es_{durability}.sqlite"), sync)
        cur: dict[str, dict[str, int]] = {"ek": {}, "es": {}, "rec": {}}
        times: dict[str, list[float]] = {"ek": [], "es": [], "rec": []}
        cpu: dict[str, list[float]] = {"ek": [], "es": [], "rec": []}

        def one(kind: str, sid: str, amount: float) -> None:
            v = cur[kind].get(sid, 0)
            c = time.thread_time()
            t = time.perf_counter()
            if kind == "ek":
                store.append(sid, ek.Event("Deposited", {"amount": amount}), expected_version=v or ek.NO_STREAM)
            else:
                (rec if kind == "rec" else recorder).insert_events(
                    [StoredEvent(sid, v + 1, "Deposited", json.dumps({"amount": amount}).encode())])
            times[kind].append(time.perf_counter() - t)
            cpu[kind].append(time.thread_time() - c)
            cur[kind][sid] = v + 1

        rounds = 5
        per = -(-len(plan) // rounds)
        for r in range(rounds):
            order = ["ek", "es", "rec"] if r % 2 == 0 else ["es", "rec", "ek"]
            for kind in order:
                for sid, amount in plan[r * per:(r + 1) * per]:
                    one(kind, sid, amount)
        for kind, label in (("ek", "eventkit store.append"), ("rec", "eventkit via the eventsourcing recorder"),
                            ("es", "eventsourcing SQLite recorder")):
            s = times[kind]
            out[f"{durability}: {label}"] = {**stats(s), "per_second": len(s) / sum(s),
                                             "cpu_us": 1e6 * sum(cpu[kind]) / len(cpu[kind])}
        store.close()
        via.close()
        datastore.close()
    return out


_KINDS = {"es": "eventsourcing", "ek": "eventkit", "ek_commit": "eventkit, fsync inside COMMIT"}


def _summary(runs: dict[str, list[float]], fsyncs: list[int], appends: int,
             cpu: dict[str, list[float]] | None = None) -> dict:
    """Medians per writer kind (keyed by its label), every round's figure, and eventkit's appends per fsync;
    ``cpu``: CPU µs per append (user + system, every thread or process of the writers) per round, reported
    as the median by label."""
    out: dict[str, Any] = {_KINDS[k]: sorted(v)[len(v) // 2] for k, v in runs.items()}
    out["rounds"] = {_KINDS[k]: [round(x) for x in v] for k, v in runs.items()}
    if cpu:
        out["cpu_us"] = {_KINDS[k]: sorted(v)[len(v) // 2] for k, v in cpu.items() if v}
    out["appends per fsync"] = appends * len(fsyncs) / max(1, sum(fsyncs))
    return out


def _counting_syncs() -> tuple[list[int], Callable[[], None]]:
    """Counts this process's os.fdatasync / os.fsync calls (eventkit's shared WAL fsyncs); returns (count, undo)."""
    import os

    count = [0]
    saved = {name: getattr(os, name) for name in ("fsync", "fdatasync") if hasattr(os, name)}
    for name, real in saved.items():
        def spy(fd: int, real: Callable[[int], None] = real) -> None:
            count[0] += 1
            real(fd)

        setattr(os, name, spy)

    def undo() -> None:
        for name, real in saved.items():
            setattr(os, name, real)

    return count, undo


def _rotations(rounds: int) -> list[tuple[str, ...]]:
    kinds = tuple(_KINDS)
    return [kinds[r % 3:] + kinds[:r % 3] for r in range(rounds)]


def bench_concurrent(p: dict) -> dict:
    """8 threads at fsync per commit: eventsourcing (one recorder, its pool of connections), eventkit (one store
    object per thread: group commit, then a shared fsync of the WAL outside the write lock) and, for the same run,
    eventkit with SQLite's fsync inside COMMIT (``synchronous=FULL``, how durability "full" committed before).
    ``rounds`` rounds, each kind once per round in a rotating order; the medians are reported."""
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek
    from eventkit.store import wal_sync

    writers, per = p["writers"], p["per_writer"]
    stores: dict[str, list[Any]] = {}
    for kind in ("ek", "ek_commit"):
        path = fresh(WORK / f"{kind}_conc")
        supported, wal_sync.SUPPORTED = wal_sync.SUPPORTED, kind == "ek" and wal_sync.SUPPORTED
        try:
            ek.open_store(path, durability="full").close()
            stores[kind] = [ek.open_store(path, durability="full") for _ in range(writers)]
        finally:
            wal_sync.SUPPORTED = supported
    datastore, recorder = es_recorder(fresh(WORK / "conc_es.sqlite"))

    def run(kind: str, r: int) -> float:
        barrier = threading.Barrier(writers + 1)
        errors: list[BaseException] = []

        def work(w: int) -> None:
            barrier.wait()
            try:
                for i in range(per):
                    sid = f"w{w}-r{r}-{i % 20}"
                    if kind == "es":
                        recorder.insert_events([StoredEvent(sid, i // 20 + 1, "Deposited", b'{"amount": 1.0}')])
                    else:
                        stores[kind][w].append(sid, ek.Event("Deposited", {"amount": float(i)}))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        barrier.wait()
        c0 = time.process_time()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        cpu[kind].append(1e6 * (time.process_time() - c0) / (writers * per))
        return writers * per / (time.perf_counter() - t0)

    runs: dict[str, list[float]] = {k: [] for k in _KINDS}
    cpu: dict[str, list[float]] = {k: [] for k in _KINDS}
    fsyncs: list[int] = []
    for r, order in enumerate(_rotations(p["rounds"])):
        for kind in order:
            count, undo = _counting_syncs()
            try:
                runs[kind].append(run(kind, r))
            finally:
                undo()
            if kind == "ek":
                fsyncs.append(count[0])
    for kind in ("ek", "ek_commit"):
        assert stores[kind][0].head == writers * per * p["rounds"]
        for s in stores[kind]:
            s.close()
    datastore.close()
    return _summary(runs, fsyncs, writers * per, cpu)


def _process_writer(kind: str, path: str, w: int, per: int, barrier: Any, out: Any) -> None:
    """One writer process of :func:`bench_processes`: waits for the others, appends ``per`` events, reports its
    time and the fsyncs it made."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek
    from eventkit.store import wal_sync

    if kind != "es":
        wal_sync.SUPPORTED = kind == "ek" and wal_sync.SUPPORTED
        store = ek.open_store(path, durability="full")
        count, _undo = _counting_syncs()
        barrier.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(per):
            store.append(f"p{w}-{i % 20}", ek.Event("Deposited", {"amount": float(i)}))
        out.put((time.perf_counter() - t0, count[0], time.process_time() - c0))
        store.close()
    else:
        datastore, recorder = es_recorder(Path(path), "FULL", create=False)
        barrier.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(per):
            recorder.insert_events([StoredEvent(f"p{w}-{i % 20}", i // 20 + 1, "Deposited", b'{"amount": 1.0}')])
        out.put((time.perf_counter() - t0, 0, time.process_time() - c0))
        datastore.close()


def bench_processes(p: dict) -> dict:
    """8 writer processes at fsync per commit, each its own store object (eventkit) or recorder (eventsourcing),
    and eventkit with SQLite's fsync inside COMMIT (as before shared fsyncs), in rotating order over ``rounds``.

    Processes take turns on SQLite's write lock for both libraries; eventkit's commit releases it without an
    fsync, and the commits made while one process's fsync is in flight share the next (see eventkit.store.wal_sync).
    """
    import multiprocessing

    import eventkit as ek

    ctx = multiprocessing.get_context("spawn")
    writers, per = p["writers"], p["per_process"]
    runs: dict[str, list[float]] = {k: [] for k in _KINDS}
    cpu: dict[str, list[float]] = {k: [] for k in _KINDS}
    fsyncs: list[int] = []
    for order in _rotations(p["rounds"]):
        for kind in order:
            path = fresh(WORK / (f"{kind}_procs" if kind != "es" else "procs_es.sqlite"))
            if kind != "es":
                ek.open_store(path, durability="full").close()
            else:
                es_recorder(path)[0].close()
            barrier, queue = ctx.Barrier(writers + 1), ctx.Queue()
            procs = [ctx.Process(target=_process_writer, args=(kind, str(path), w, per, barrier, queue))
                     for w in range(writers)]
            for proc in procs:
                proc.start()
            barrier.wait()
            t0 = time.perf_counter()
            reports = [queue.get(timeout=600) for _ in procs]
            runs[kind].append(writers * per / (time.perf_counter() - t0))
            made = sum(r[1] for r in reports)
            cpu[kind].append(1e6 * sum(r[2] for r in reports) / (writers * per))
            if kind == "ek":
                fsyncs.append(made)
            for proc in procs:
                proc.join()
    return _summary(runs, fsyncs, writers * per, cpu)


def bench_suite() -> dict:
    """The µs per insert the eventsourcing recorder test cases print, for both backends."""
    _ES_SYNC["value"] = "FULL"
    from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder, SQLiteDatastore
    from eventsourcing.tests.persistence import AggregateRecorderTestCase, ApplicationRecorderTestCase

    import eventkit as ek
    from eventkit.interop.eventsourcing import EventKitAggregateRecorder, EventKitApplicationRecorder

    def sqlite(cls):  # as the library's own SQLite tests build them: a file database
        def create(self):
            datastore = SQLiteDatastore(str(fresh(WORK / f"suite_{cls.__name__}.sqlite")))
            recorder = cls(datastore)
            recorder.create_table()
            return recorder
        return create

    def eventkit(cls, durability):
        def create(self):
            return cls(ek.open_store(fresh(WORK / f"suite_{cls.__name__}_{durability}"), durability=durability))
        return create

    cases = {
        ("aggregate", "eventsourcing SQLite (synchronous FULL, its default)"): (AggregateRecorderTestCase, sqlite(SQLiteAggregateRecorder)),
        ("aggregate", "eventkit, durability full"): (AggregateRecorderTestCase, eventkit(EventKitAggregateRecorder, "full")),
        ("aggregate", "eventkit, durability normal"): (AggregateRecorderTestCase, eventkit(EventKitAggregateRecorder, "normal")),
        ("application", "eventsourcing SQLite (synchronous FULL, its default)"): (ApplicationRecorderTestCase, sqlite(SQLiteApplicationRecorder)),
        ("application", "eventkit, durability full"): (ApplicationRecorderTestCase, eventkit(EventKitApplicationRecorder, "full")),
        ("application", "eventkit, durability normal"): (ApplicationRecorderTestCase, eventkit(EventKitApplicationRecorder, "normal")),
    }
    out = {}
    for (what, backend), (base, create) in cases.items():
        case = type("Case", (base,), {"create_recorder": create})("test_performance")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            result = unittest.TestResult()
            case.run(result)
        assert not result.errors and not result.failures, result.errors or result.failures
        m = re.search(r"([\d.]+) μs per insert", buf.getvalue())
        out[f"{what} recorder, {backend}"] = float(m.group(1)) if m else None
    return out


def report(m: dict, p: dict, r: dict, seconds: float) -> str:
    L = [SECTION, "",
         f"Run on {m['date']}: {m['cpu']}, `nproc` = {m['nproc']}, {m['memory']}; load average {m['load']:.2f} at the start "
         f"({'a quiet machine' if m['load'] < 1.5 else 'other work shared the 2 cores: figures are pessimistic'}; "
         "fsync-bound figures vary with the disk). "
         f"eventsourcing {m['eventsourcing']}, SQLite {m['sqlite']}, duckdb {m['duckdb']}. "
         f"Command: `.venv/bin/python {p['command']}` "
         f"({seconds:.0f} s).", ""]
    h = r["hot"]
    L += [f"### Point reads: {p['hot_events']:,} events in the hot log, {p['hot_streams']:,} streams "
          f"({p['samples']} samples each; eventsourcing holds the same events)", "",
          "| read | p50 ms | p99 ms | CPU p50 ms |", "|---|---:|---:|---:|"]
    L += [f"| {k} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['cpu_p50_ms']:.3f} |" for k, v in h.items()]
    s = r["sealed"]
    L += ["", f"### Point reads on a sealed store: {p['sealed_events']:,} events, {p['sealed_streams']:,} streams, "
          f"{s['segments']} segments after `compact()` ({4 * p['sealed_samples']} samples of point reads, "
          f"{p['sealed_samples']} of whole streams, pages and DataFrames; eventsourcing holds the same events)", "",
          "| read | p50 ms | p99 ms | CPU p50 ms |", "|---|---:|---:|---:|"]
    L += [f"| {k} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['cpu_p50_ms']:.3f} |" for k, v in s.items()
          if k not in ("segments", "layouts")]
    lay = s["layouts"]
    L += ["", f"Segment row-group size, side by side on the store's largest segment ({lay['segment events']:,} events) "
          "rewritten with each size (best of 3 alternating rounds; the store writes "
          f"{ROW_GROUP_SIZE:,}): decoding one row group is a sealed point read's unit of work; the scans are "
          "what folds and analytical queries do.", "",
          "| rows per group | groups | MB | decode one group, ms | fold-like scan (group by stream), ms | filtered count, ms |",
          "|---:|---:|---:|---:|---:|---:|"]
    L += [f"| {size:,} | {v['row groups']} | {v['bytes'] / 1e6:.1f} | {v['decode one group ms']:.2f} | "
          f"{v['fold scan ms']:.0f} | {v['filtered count ms']:.0f} |" for size, v in lay["sizes"].items()]
    a = r["appends"]
    L += ["", f"### Sequential one-event appends with an expected version ({p['appends']:,} each, interleaved in 5 rounds)", "",
          "| durability: writer | appends/s | p50 ms | p99 ms | CPU µs per append |", "|---|---:|---:|---:|---:|"]
    L += [f"| {k} | {v['per_second']:,.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['cpu_us']:.0f} |"
          for k, v in a.items()]
    for d in ("full", "normal"):
        ratio = a[f"{d}: eventkit store.append"]["per_second"] / a[f"{d}: eventsourcing SQLite recorder"]["per_second"]
        L.append(f"\n{d}: eventkit / eventsourcing = **{ratio:.2f}x** (target >= 1.0x)")
    c, pr = r["concurrent"], r["processes"]
    before = "eventkit, fsync inside COMMIT"
    for title, m_, what in ((f"{p['writers']} concurrent writers at fsync per commit ({p['per_writer']} one-event "
                             "appends each; eventkit: one store object per thread; eventsourcing: one recorder, its pool)", c,
                             "threads"),
                            (f"{p['writers']} writer processes at fsync per commit ({p['per_process']} one-event appends "
                             "each; eventkit: a store object per process; eventsourcing: a recorder per process)", pr,
                             "processes")):
        L += ["", f"### {title}", "",
              f"Medians of {p['rounds']} rounds (each kind once per round, in rotating order).", "",
              "| writer | appends/s | rounds | / eventsourcing | CPU µs per append |", "|---|---:|---|---:|---:|"]
        L += [f"| {k} | {m_[k]:,.0f} | {', '.join(f'{x:,}' for x in m_['rounds'][k])} | {m_[k] / m_['eventsourcing']:.2f}x "
              f"| {m_.get('cpu_us', {}).get(k, float('nan')):,.0f} |"
              for k in ("eventkit", before, "eventsourcing")]
        L.append(f"\neventkit (group commit, fsync shared after the commit) / eventsourcing = "
                 f"**{m_['eventkit'] / m_['eventsourcing']:.2f}x** (target >= 3x); {m_['appends per fsync']:.1f} appends "
                 f"per fsync; \"{before}\" is how durability full committed before the fsync was shared ({what}).")
    L += ["", "### The eventsourcing recorder suite's own `test_performance` (µs per insert, one event per insert)", "",
          "| recorder | µs per insert |", "|---|---:|"]
    L += [f"| {k} | {v:,.0f} |" if v is not None else f"| {k} | (not printed) |" for k, v in r["suite"].items()]
    newest = h["newest, eventkit records"]["p50_ms"]
    page = h["page of 10 (late positions), eventkit records"]["p50_ms"]
    sealed = s["newest, eventkit records"]["p50_ms"]
    sealed_cpu = s["newest, eventkit records"]["cpu_p50_ms"]
    L += ["", "### Targets (issue 11) and what the figures say", "",
          "| target | measured | verdict |", "|---|---|---|",
          f"| newest event of a stream, hot, p50 < 1 ms | {newest:.3f} ms (records) | {'met' if newest < 1 else 'missed'} |",
          f"| read_all(from, limit=10), hot, < 1 ms, not growing with the hot log | {page:.3f} ms (records; same early and late in the log) | {'met' if page < 1 else 'missed'} |",
          f"| head < 0.1 ms | {h['head, eventkit store.head']['p50_ms']:.3f} ms | {'met' if h['head, eventkit store.head']['p50_ms'] < 0.1 else 'missed'} |",
          f"| newest event of a stream, sealed, p50 < 5 ms | {sealed:.1f} ms (records) on {p['sealed_events']:,} events; "
          f"CPU {sealed_cpu:.1f} ms | {'met' if sealed < 5 else ('met in CPU time, wall clock waited for the shared cores' if sealed_cpu < 5 else 'missed')} |",
          f"| 8 writer threads at fsync per commit >= 3x eventsourcing | {c['eventkit'] / c['eventsourcing']:.2f}x | {'met' if c['eventkit'] / c['eventsourcing'] >= 3 else 'missed'} |",
          f"| 8 writer processes at fsync per commit >= 3x eventsourcing | {pr['eventkit'] / pr['eventsourcing']:.2f}x | {'met' if pr['eventkit'] / pr['eventsourcing'] >= 3 else 'missed'} |"]
    for d in ("full", "normal"):
        ratio = a[f"{d}: eventkit store.append"]["per_second"] / a[f"{d}: eventsourcing SQLite recorder"]["per_second"]
        L.append(f"| sequential appends, durability {d}, >= 1.0x eventsourcing | {ratio:.2f}x | {'met' if ratio >= 1 else 'missed'} |")
    L += ["",
          "Why, where a target is missed:",
          "",
          "- **Sealed point reads** (segments are now written in row groups of "
          f"{ROW_GROUP_SIZE:,} rows, was 122,880). A segment is sorted by (stream_id, position); the records path "
          "picks the row groups whose stream_id statistics (from footers cached in memory) can hold the stream and "
          "decodes them one at a time from the end the read starts at, stopping at `limit`. pyarrow decodes a "
          "whole row group (every column) even for one row and has no row-range read, and DuckDB reads no page "
          "index, so the row-group size is the cost: see the table above, where the scans show no loss at the "
          "smaller size. A read's cost follows `limit` (one group for the newest 10; a whole stream decodes every "
          "group it touches), not the store's size. DataFrame reads take DuckDB's analytical path and cost more.",
          "- **Pages of sealed events** (`read_all(from_position=..., limit=10)` over segments) scan: segments are "
          "sorted by stream, so no row group can be skipped by position. Pages of the hot log, where consumers "
          "read new events, are index range scans.",
          "- **Sequential appends.** An eventkit append reads the counters, the stream's head and the chain's "
          "head (one statement returning one row), then writes the hot-log row (and its (stream, version) index "
          "entry), the hash-chain link (issue 13), the stream head and the counters: five statements and five "
          "pages between BEGIN and COMMIT, against eventsourcing's one insert (a row and its primary key: two "
          "pages). Each page an append changes costs ~7 µs of SQLite's own CPU (the statement, and the page's "
          "WAL frame at commit; measured on tmpfs), so eventkit's SQL takes ~45 µs against eventsourcing's ~25 "
          "µs. The Python around it does one JSON encoding per event (the chain link's leaf and detail text are "
          "written directly, byte for byte what the encoder gives) and no per-call encoder or statement set-up: "
          "~100 µs of CPU per append in all, against ~130 µs before that work and eventsourcing's ~48 µs. So "
          "without an fsync per commit eventkit stays below eventsourcing (~0.45x); with one, the fsync "
          "dominates both and the ratio moves with the disk (~0.8x when an fsync takes ~0.2 ms). Matching a "
          "one-insert append needs a catalog format that writes fewer pages (the counters and the append's link "
          "kept with the hot-log row, old catalogs migrated or read both ways), not fewer Python instructions. "
          "At durability normal the catalog checkpoints its WAL every 8,192 pages instead of 1,000 (a "
          "checkpoint's two fsyncs are then paid once per ~1,600 appends); at full it keeps 1,000, since an "
          "fsync of a WAL that keeps growing also flushes its size and took twice as long.",
          "- **Concurrent writers.** Group commit: the first appender of a process to arrive leads, runs every "
          "member's append in one transaction (each in a savepoint, so a refused one is undone alone) and "
          "commits once, without an fsync inside COMMIT (SQLite's synchronous=NORMAL); with SQLite's write lock "
          "released it then makes the commit durable with an fsync of the WAL shared with every commit made "
          "before it, by any process (eventkit.store.wal_sync), and wakes its members; the process's next group "
          "gathers meanwhile. With 8 threads nearly every group holds all 8 appends, so a group still costs "
          "about one fsync plus 8 appends' CPU (~85 µs each when grouped), against eventsourcing's fsync per "
          "append: the shared fsync gains nothing over the fsync inside COMMIT here (letting the next group "
          "commit during the fsync was tried: groups of 6 instead of 8, more CPU per append), and the ratio "
          "follows the disk (about 8 (F + 0.05 ms) / (F + 0.7 ms) for an fsync of F: above 3x when an fsync "
          "costs ~0.35 ms or more, ~2x on a disk that syncs in ~0.15 ms). eventsourcing's figure with 8 threads "
          "varies most with the disk.",
          "- **Writer processes.** Processes take turns on SQLite's write lock (queued on a file lock, so the next "
          "starts as soon as one commits), and each process's connection re-reads the pages another changed. "
          "With the fsync inside COMMIT each commit paid its own, holding the lock; now the lock is released at "
          "COMMIT and the commits made while one process's fsync is in flight are covered by the next one (see "
          "\"appends per fsync\"), so the write lock, not the disk, sets the pace. A commit is visible to "
          "readers a moment before it is durable (its appender has not returned yet; README, Durability).",
          "- **CPU p50** is the CPU time of the reading thread (`time.thread_time`): on the shared 2 cores the wall "
          "clock also counts waiting for a core. Records reads do all their work on that thread (pyarrow decodes "
          "with `use_threads=False`); DataFrame reads also use DuckDB's worker threads, which it does not count.",
          "- **DataFrame point reads** keep the analytical path's fixed cost (snapshot, DuckDB cursor, conversion "
          "to pandas: ~9 ms on an idle machine); `output=\"records\"` is the operational path. On the sealed store "
          f"a DataFrame's newest event took {s['newest, eventkit DataFrame']['p50_ms']:.0f} ms: DuckDB runs the "
          "`events` view over every segment holding the stream (here all of them), where the records path "
          "opens the newest segment's one row group."]
    return "\n".join(L) + "\n"


def write_markdown(path: Path, section: str) -> None:
    """Replace (or append) this script's section; every other section stays as it is."""
    old = path.read_text() if path.exists() else "# eventkit benchmarks\n"
    parts = re.split(r"(?m)^(?=## )", old)
    body = [q for q in parts[1:]]
    at = next((i for i, q in enumerate(body) if q.startswith(SECTION)), None)
    if at is None:  # a new section goes last; an existing one is replaced where it stands
        body.append(section)
    else:
        body[at] = section
    out = parts[0].rstrip() + "\n\n" + "\n".join(q.rstrip() + "\n" for q in body)
    path.write_text(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", metavar="PATH")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--sealed-events", type=int, metavar="N",
                    help="events in the sealed store (the issue's target: 10000000); built once under benchmarks/.work-ops/")
    ap.add_argument("--sealed-streams", type=int, metavar="K", help="streams in the sealed store (target: 100000)")
    ap.add_argument("--only", metavar="PARTS", help="comma-separated: hot,sealed,appends,concurrent,processes,suite "
                    "(prints the figures as JSON; --write needs every part)")
    args = ap.parse_args()
    p = dict(QUICK if args.quick else FULL)
    if args.sealed_events:
        p["sealed_events"] = args.sealed_events
    if args.sealed_streams:
        p["sealed_streams"] = args.sealed_streams
    p["command"] = " ".join(["benchmarks/bench_ops.py", *sys.argv[1:]])
    parts = {"hot": bench_hot_reads, "sealed": bench_sealed_reads, "appends": bench_appends,
             "concurrent": bench_concurrent, "processes": bench_processes, "suite": lambda _p: bench_suite()}
    only = args.only.split(",") if args.only else list(parts)
    if args.only and args.write:
        ap.error("--write rewrites the whole section: run every part (no --only)")
    m = machine()
    t0 = time.perf_counter()
    results = {}
    for name, fn in ((name, parts[name]) for name in only):
        t = time.perf_counter()
        results[name] = fn(p)
        print(f"{name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if args.only:
        print(json.dumps(results, indent=1))
        shutil.rmtree(WORK, ignore_errors=True)
        return
    section = report(m, p, results, time.perf_counter() - t0)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "params": p, "results": results}, indent=1))
    if args.write:
        write_markdown(Path(args.write), section)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
