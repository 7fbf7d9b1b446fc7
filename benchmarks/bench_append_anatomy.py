"""Where a sequential one-event append's time goes, and what a catalog writing fewer pages would buy.

Usage:
    .venv/bin/python benchmarks/bench_append_anatomy.py                 # both parts, both durabilities
    .venv/bin/python benchmarks/bench_append_anatomy.py --appends 1000 --rounds 3

Two parts, printed as text (nothing is written to BENCHMARKS.md):

- **statements**: ``store.append(sid, ek.Event(...), expected_version=v)`` over 200 streams with the
  catalog's connection wrapped so each SQL statement's thread CPU is summed; the rest is Python
  (validation, hashing, locks, the statement calls themselves).
- **fewer pages**: the same appends with some of the catalog writes skipped: the counters (meta),
  the stream head (streams) and the chain link (chain). Within one run the append path takes its
  state from memory (:mod:`eventkit.store.append_state_cache`), so positions and versions stay
  right without them: this is what a catalog format that derives those values (or keeps them in the
  hot-log row) would save on the write path, not a working store. Each variant runs interleaved
  with eventsourcing's SQLite recorder (one ``insert_events`` of one ``StoredEvent`` per append) in
  rounds on fresh stores; the figures are the medians over rounds.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import eventkit as ek  # noqa: E402
from bench_ops import WORK, es_recorder, fresh  # noqa: E402
from eventkit.store.catalog_queries import SQLiteQueries  # noqa: E402

STREAMS = 200
SKIPPABLE = ("set_log_state", "upsert_streams", "add_link")
VARIANTS = {
    "as stored today": (),
    "without the counters' write (meta)": ("set_log_state",),
    "without meta and the stream head (streams)": ("set_log_state", "upsert_streams"),
    "without meta, streams and the chain link": SKIPPABLE,
}


class _TimedConnection:
    """A sqlite3 connection whose execute sums each statement's thread CPU by its SQL text."""

    def __init__(self, conn: Any, totals: dict[str, list[float]]) -> None:
        self._conn, self._totals = conn, totals

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.thread_time()
        cursor = self._conn.execute(sql, *args)
        entry = self._totals[sql]
        entry[0] += 1
        entry[1] += time.thread_time() - started
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _appends(store: ek.Store, plan: list[tuple[str, float]], versions: dict[str, int]) -> None:
    for sid, amount in plan:
        v = versions.get(sid, 0)
        store.append(sid, ek.Event("Deposited", {"amount": amount}), expected_version=v or ek.NO_STREAM)
        versions[sid] = v + 1


def _plan(n: int) -> list[tuple[str, float]]:
    rng = random.Random(7)
    return [(f"acct-{i % STREAMS:05d}", round(rng.random() * 100, 2)) for i in range(n)]


def statements(durability: str, n: int) -> None:
    """Per-statement CPU of one-event appends (after a warm-up that creates every stream)."""
    plan = _plan(n + STREAMS)
    store = ek.open_store(fresh(WORK / "anatomy"), durability=durability)
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    catalog = store._catalog
    real = catalog.conn
    catalog.conn = _TimedConnection(real, totals)  # before the warm-up: the state cache knows this object
    versions: dict[str, int] = {}
    _appends(store, plan[:STREAMS], versions)
    totals.clear()
    started = time.thread_time()
    try:
        _appends(store, plan[STREAMS:], versions)
    finally:
        catalog.conn = real
    total = (time.thread_time() - started) / n * 1e6
    store.close()
    in_sql = sum(t for _, t in totals.values()) / n * 1e6
    print(f"\n{durability}: {total:.1f} µs CPU per append; SQL statements {in_sql:.1f} µs, the rest {total - in_sql:.1f} µs")
    for sql, (count, spent) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(f"  {spent / count * 1e6:7.1f} µs x {count / n:4.2f}  {' '.join(sql.split())[:90]}")


def fewer_pages(durability: str, n: int, rounds: int) -> None:
    """Each variant's CPU and wall time per append beside eventsourcing's, interleaved in rounds."""
    from eventsourcing.persistence import StoredEvent

    plan = _plan(n + STREAMS)
    real = {name: getattr(SQLiteQueries, name) for name in SKIPPABLE}
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    wall: dict[str, list[float]] = collections.defaultdict(list)

    def timed(label: str, work: Any) -> None:
        c, w = time.thread_time(), time.perf_counter()
        work()
        cpu[label].append((time.thread_time() - c) / n * 1e6)
        wall[label].append((time.perf_counter() - w) / n * 1e6)

    try:
        for _ in range(rounds):
            for label, skipped in VARIANTS.items():
                for name in SKIPPABLE:
                    setattr(SQLiteQueries, name, staticmethod(real[name]))
                store = ek.open_store(fresh(WORK / "anatomy"), durability=durability)
                versions: dict[str, int] = {}
                _appends(store, plan[:STREAMS], versions)  # every stream exists before writes are skipped
                for name in skipped:
                    setattr(SQLiteQueries, name, staticmethod(lambda *a, **k: None))
                timed(label, lambda: _appends(store, plan[STREAMS:], versions))
                store.close()
            for name in SKIPPABLE:
                setattr(SQLiteQueries, name, staticmethod(real[name]))
            datastore, recorder = es_recorder(fresh(WORK / "anatomy_es.sqlite"), durability.upper())
            es_versions: dict[str, int] = {}
            for sid, _ in plan[:STREAMS]:
                recorder.insert_events([StoredEvent(sid, 1, "Deposited", b'{"amount": 1.0}')])
                es_versions[sid] = 1

            def es_appends() -> None:
                for sid, amount in plan[STREAMS:]:
                    v = es_versions[sid] + 1
                    recorder.insert_events([StoredEvent(sid, v, "Deposited", json.dumps({"amount": amount}).encode())])
                    es_versions[sid] = v

            timed("eventsourcing SQLite recorder", es_appends)
            datastore.close()
    finally:
        for name in SKIPPABLE:
            setattr(SQLiteQueries, name, staticmethod(real[name]))
    es_cpu = statistics.median(cpu["eventsourcing SQLite recorder"])
    es_wall = statistics.median(wall["eventsourcing SQLite recorder"])
    print(f"\n{durability}: {n} appends per round, {rounds} rounds (medians)")
    print(f"  {'':45s} {'CPU µs':>8s} {'wall µs':>8s} {'eventkit/eventsourcing (appends/s)':>36s}")
    for label in [*VARIANTS, "eventsourcing SQLite recorder"]:
        c, w = statistics.median(cpu[label]), statistics.median(wall[label])
        print(f"  {label:45s} {c:8.1f} {w:8.1f} {es_wall / w:35.2f}x   (CPU: {es_cpu / c:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--appends", type=int, default=2000, help="timed appends per run (default 2000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the fewer-pages part (default 5)")
    ap.add_argument("--durability", default="normal,full", help="comma-separated: normal,full")
    args = ap.parse_args()
    for durability in args.durability.split(","):
        statements(durability, args.appends)
        fewer_pages(durability, args.appends, args.rounds)


if __name__ == "__main__":
    main()
