"""Appends with the PostgreSQL catalog, side by side with eventsourcing's PostgreSQL recorder in one run.

Usage:
    .venv/bin/python benchmarks/bench_pg.py                        # full run, prints a report
    .venv/bin/python benchmarks/bench_pg.py --write BENCHMARKS.md   # and rewrites its section
    .venv/bin/python benchmarks/bench_pg.py --quick                 # small sizes, a smoke run
    .venv/bin/python benchmarks/bench_pg.py --only concurrent       # one part (bulk, concurrent, sequential)

A throwaway PostgreSQL cluster is started (``tests/_postgres.py``; or ``EVENTKIT_TEST_POSTGRES``) and
restarted with ``fsync = on``, ``full_page_writes = on`` (the test cluster runs without them), so that
``synchronous_commit = on`` costs the WAL flush it costs in production. Both libraries write to the
same server, in separate schemas. What is timed:

- bulk: ``store.append_frame(df)`` of 200,000 and of 1,000,000 events (10,000 streams) into a store whose catalog is in PostgreSQL (segments in a local
  folder) vs the same events as ``StoredEvent``s through eventsourcing's ``PostgresApplicationRecorder``
  ``insert_events()``, 1,000 per call (the ``StoredEvent``s are built before the clock starts); each
  eventkit durability runs 3 times (a new store each, the two durabilities alternating) and reports its
  median: a one-second run on a shared machine is at the mercy of a load spike, eventsourcing's
  20-40 s run averages over them by itself;
- 8 concurrent writers (threads; eventkit one store object each, as 8 processes would; eventsourcing
  one recorder with a pool of 8 connections), one-event appends with an expected version to distinct
  streams; 3 rounds, the three writers interleaved, median per writer, with the CPU time per append of
  this process and of the cluster's processes (from ``/proc``, when the cluster is the script's own);
- sequential one-event appends with an expected version, interleaved in rounds.

Durability: eventkit ``durability="normal"`` (its default) commits with ``synchronous_commit = off``,
``"full"`` with ``on``; eventsourcing uses the server's default, ``on``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "pg"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from _machine import machine  # noqa: E402

FULL = {"bulk_events": [200_000, 1_000_000], "bulk_streams": 10_000, "es_batch": 1_000, "writers": 8, "per_writer": 250,
        "appends": 1_000}
QUICK = {"bulk_events": [20_000], "bulk_streams": 1_000, "es_batch": 1_000, "writers": 8, "per_writer": 25,
         "appends": 100}
SECTION = "## PostgreSQL catalog vs eventsourcing's PostgreSQL recorder"
PARTS = ("bulk", "concurrent", "sequential")
RUNS = 3  # eventkit's bulk runs per durability, and the concurrent writers' rounds: the median is reported


SERVER_PID: int | None = None  # the cluster's postmaster, when it is ours: its processes' CPU time is counted


def server_cpu() -> float:
    """CPU seconds used so far by the cluster's processes (the postmaster's children); 0 when not ours."""
    if SERVER_PID is None:
        return 0.0
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(pid) == SERVER_PID or int(fields[1]) == SERVER_PID:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def fresh(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sql(url: str, statement: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def es_recorder(url: str, schema: str, pool_size: int = 1) -> tuple[Any, Any]:
    """eventsourcing's PostgreSQL application recorder in its own schema (text stream ids)."""
    from urllib.parse import urlsplit

    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    sql(url, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    u = urlsplit(url)
    datastore = PostgresDatastore(dbname=u.path.lstrip("/"), host=u.hostname, port=u.port, user=u.username,
                                  password=u.password or "", pool_size=pool_size, max_overflow=0,
                                  schema=schema, originator_id_type="text")
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    return datastore, recorder


def ek_store(url: str, name: str, durability: str) -> Any:
    import eventkit as ek

    return ek.open_store(WORK / name, catalog=f"{url}?schema={name}", durability=durability)


def bench_bulk(url: str, p: dict) -> dict:
    import pandas as pd

    fresh(WORK / "warm")  # the first append_frame of a process pays imports and the server's cold caches
    warm = ek_store(url, "warm", "normal")
    warm.append_frame(pd.DataFrame({"stream_id": [f"w{i % 100}" for i in range(10_000)], "event_type": "Deposited",
                                    "amount": 1.0}))
    warm.close()
    return {n: bench_bulk_one(url, n, p["bulk_streams"], p["es_batch"]) for n in p["bulk_events"]}


def bench_bulk_one(url: str, n: int, k: int, b: int) -> dict:
    import numpy as np
    import pandas as pd
    from eventsourcing.persistence import StoredEvent

    sids = [f"acct-{i % k:05d}" for i in range(n)]
    amounts = np.arange(n, dtype=float)
    df = pd.DataFrame({"stream_id": sids, "event_type": "Deposited", "amount": amounts})
    out: dict[str, Any] = {}
    runs: dict[str, list[float]] = {"normal": [], "full": []}
    for r in range(RUNS):
        for durability in (("normal", "full") if r % 2 == 0 else ("full", "normal")):
            name = f"bulk_{n}_{durability}_{r}"
            fresh(WORK / name)
            store = ek_store(url, name, durability)
            t = time.perf_counter()
            store.append_frame(df)
            runs[durability].append(time.perf_counter() - t)
            assert store.head == n
            store.close()
    for durability, times in runs.items():
        s = sorted(times)[len(times) // 2]
        out[f"eventkit append_frame, durability {durability}"] = {"seconds": s, "per_second": n / s,
                                                                   "runs": times}
    versions: dict[str, int] = {}
    events = []
    for sid, amount in zip(sids, amounts.tolist()):
        versions[sid] = versions.get(sid, 0) + 1
        events.append(StoredEvent(sid, versions[sid], "Deposited", json.dumps({"amount": amount}).encode()))
    datastore, recorder = es_recorder(url, f"es_bulk_{n}")
    t = time.perf_counter()
    for start in range(0, n, b):
        recorder.insert_events(events[start:start + b])
    s = time.perf_counter() - t
    assert recorder.max_notification_id() == n
    datastore.close()
    out[f"eventsourcing insert_events, {b:,} per call"] = {"seconds": s, "per_second": n / s}
    return out


def bench_concurrent(url: str, p: dict) -> dict:
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek

    writers, per = p["writers"], p["per_writer"]
    out: dict[str, Any] = {}
    cpu: list[tuple[float, float]] = []  # per round: (client, server) CPU microseconds per append

    def run(append) -> float:  # type: ignore[no-untyped-def]
        barrier = threading.Barrier(writers + 1)
        errors: list[BaseException] = []

        def work(w: int) -> None:
            barrier.wait()
            try:
                for i in range(per):
                    append(w, f"w{w}-{i % 20}", i // 20)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        cpu0, server0 = time.process_time(), server_cpu()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        n = writers * per
        cpu.append((1e6 * (time.process_time() - cpu0) / n, 1e6 * (server_cpu() - server0) / n))
        if errors:
            raise errors[0]
        return n / seconds

    def es_round(r: int) -> float:
        datastore, recorder = es_recorder(url, f"es_conc_{r}", pool_size=writers)
        rate = run(lambda w, sid, v: recorder.insert_events([StoredEvent(sid, v + 1, "Deposited", b'{"amount": 1.0}')]))
        assert recorder.max_notification_id() == writers * per
        datastore.close()
        return rate

    def ek_round(durability: str, r: int) -> float:
        name = f"conc_{durability}_{r}"
        fresh(WORK / name)
        ek_store(url, name, durability).close()
        stores = [ek_store(url, name, durability) for _ in range(writers)]
        rate = run(lambda w, sid, v: stores[w].append(sid, ek.Event("Deposited", {"amount": 1.0}),
                                                       expected_version=v or ek.NO_STREAM))
        assert stores[0].head == writers * per
        for s in stores:
            s.close()
        return rate

    labels = {"es": "eventsourcing (synchronous_commit on)",
              "normal": "eventkit, durability normal (synchronous_commit off)",
              "full": "eventkit, durability full (synchronous_commit on)"}
    rates: dict[str, list[float]] = {k: [] for k in labels}
    cpus: dict[str, list[tuple[float, float]]] = {k: [] for k in labels}
    for r in range(RUNS):
        for kind in (list(labels) if r % 2 == 0 else list(labels)[::-1]):
            rates[kind].append(es_round(r) if kind == "es" else ek_round(kind, r))
            cpus[kind].append(cpu[-1])
    for kind, label in labels.items():
        out[label] = sorted(rates[kind])[len(rates[kind]) // 2]
        client, server = (sorted(c)[len(c) // 2] for c in zip(*cpus[kind]))
        out[f"cpu: {label}"] = {"client_us": client, "server_us": server}
    print(f"concurrent rounds: {rates}", file=sys.stderr)
    return out


def bench_sequential(url: str, p: dict) -> dict:
    from eventsourcing.persistence import StoredEvent

    import eventkit as ek

    rng = random.Random(7)
    plan = [(f"acct-{i % 200:05d}", round(rng.random() * 100, 2)) for i in range(p["appends"])]
    stores = {}
    for d in ("normal", "full"):
        fresh(WORK / f"seq_{d}")
        stores[d] = ek_store(url, f"seq_{d}", d)
    datastore, recorder = es_recorder(url, "es_seq")
    kinds = ["normal", "full", "es"]
    cur: dict[str, dict[str, int]] = {k: {} for k in kinds}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    rounds = 5
    per = -(-len(plan) // rounds)
    for r in range(rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            for sid, amount in plan[r * per:(r + 1) * per]:
                v = cur[kind].get(sid, 0)
                t = time.perf_counter()
                if kind == "es":
                    recorder.insert_events([StoredEvent(sid, v + 1, "Deposited", json.dumps({"amount": amount}).encode())])
                else:
                    stores[kind].append(sid, ek.Event("Deposited", {"amount": amount}), expected_version=v or ek.NO_STREAM)
                times[kind].append(time.perf_counter() - t)
                cur[kind][sid] = v + 1
    for s in stores.values():
        s.close()
    datastore.close()
    labels = {"normal": "eventkit store.append, durability normal", "full": "eventkit store.append, durability full",
              "es": "eventsourcing insert_events, one event"}
    out = {}
    for kind in kinds:
        s = sorted(times[kind])
        out[labels[kind]] = {"per_second": len(s) / sum(s), "p50_ms": 1e3 * s[len(s) // 2],
                             "p99_ms": 1e3 * s[min(len(s) - 1, int(len(s) * 0.99))]}
    return out


def report(m: dict, pg: dict, p: dict, r: dict, seconds: float, load_end: float, quick: bool) -> str:
    L = [SECTION, "",
         f"Run on {m['date']}: {m['cpu']}, `nproc` = {m['nproc']}, {m['memory']}; load average {m['load']:.2f} at "
         f"the start, {load_end:.2f} at the end ({'a quiet machine' if m['load'] < 1.5 else 'other work shared the 2 cores: figures are pessimistic'}; "
         f"the fsync-bound ones vary with the disk). PostgreSQL {pg['version']} on the same machine (a throwaway "
         f"cluster from `tests/_postgres.py`, set to fsync = {pg['fsync']}, full_page_writes = "
         f"{pg['full_page_writes']}, synchronous_commit default = {pg['synchronous_commit']}, "
         f"shared_buffers = {pg['shared_buffers']}); eventsourcing {m['eventsourcing']}, duckdb {m['duckdb']}. "
         f"Command: `.venv/bin/python benchmarks/bench_pg.py --write BENCHMARKS.md{' --quick' if quick else ''}` "
         f"({seconds:.0f} s). Durability: eventkit `normal` (its default) commits with synchronous_commit off, "
         "`full` with on; eventsourcing's recorder with the server's default, on.", ""]
    for n, b in r["bulk"].items():
        es_b = next(v for k, v in b.items() if k.startswith("eventsourcing"))
        L += [f"### Bulk: {n:,} events, {p['bulk_streams']:,} streams (eventkit: median of {RUNS} runs)", "",
              "| writer | seconds | events/s | vs eventsourcing |", "|---|---:|---:|---:|"]
        L += [f"| {k} | {v['seconds']:.2f}{_spread(v)} | {v['per_second']:,.0f} | "
              f"{v['per_second'] / es_b['per_second']:.1f}x |" for k, v in b.items()]
        L.append("")
    L.pop()
    c = {k: v for k, v in r["concurrent"].items() if not k.startswith("cpu: ")}
    cpu = {k[5:]: v for k, v in r["concurrent"].items() if k.startswith("cpu: ")}
    es_c = c["eventsourcing (synchronous_commit on)"]
    L += ["", f"### {p['writers']} concurrent writers ({p['per_writer']} one-event appends each with an expected "
          "version, distinct streams per writer; threads: eventkit one store object each, eventsourcing one recorder "
          f"with a pool of {p['writers']} connections; median of {RUNS} interleaved rounds; CPU: this process's "
          "and the cluster's processes' CPU time per append, medians: a measure the machine's load moves less)", "",
          "| writer | appends/s | vs eventsourcing | CPU per append: client, server (µs) |", "|---|---:|---:|---:|"]
    L += [f"| {k} | {v:,.0f} | {v / es_c:.2f}x | {cpu[k]['client_us']:,.0f}, "
          f"{cpu[k]['server_us']:,.0f} |" for k, v in c.items()]
    s = r["sequential"]
    L += ["", f"### Sequential one-event appends with an expected version ({p['appends']:,} each, interleaved in 5 "
          "rounds; for reference)", "", "| writer | appends/s | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    L += [f"| {k} | {v['per_second']:,.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} |" for k, v in s.items()]
    ratios = {n: b["eventkit append_frame, durability normal"]["per_second"]
              / next(v for k, v in b.items() if k.startswith("eventsourcing"))["per_second"] for n, b in r["bulk"].items()}
    bulk_ratio = ratios[max(ratios)]
    conc_ratio = c["eventkit, durability normal (synchronous_commit off)"] / es_c
    conc_full = c["eventkit, durability full (synchronous_commit on)"] / es_c
    L += ["", "### Targets (issue 12)", "", "| target | measured | verdict |", "|---|---|---|",
          "| bulk >= 25x eventsourcing's PostgreSQL recorder | "
          + ", ".join(f"{x:.1f}x at {n:,} events" for n, x in ratios.items()) + " (durability normal) | "
          f"{'met' if bulk_ratio >= 25 else 'missed'} at {max(ratios):,} events |",
          f"| 8 concurrent writers >= 2x, each at its usual durability | {conc_ratio:.2f}x (eventkit normal vs "
          f"eventsourcing on); {conc_full:.2f}x at the same durability (both synchronous_commit on) | "
          f"{'met' if conc_ratio >= 2 else 'missed'} |", "",
          "<!-- pg-notes -->", "<!-- pg-notes -->"]
    return "\n".join(L) + "\n"


def _spread(v: dict) -> str:
    """`` (runs 0.91-1.20)`` for a median of several runs."""
    runs = v.get("runs")
    return f" (runs {min(runs):.2f}–{max(runs):.2f})" if runs and len(runs) > 1 else ""


def write_markdown(path: Path, section: str) -> None:
    """Replace (or append) this script's section, keeping its hand-written notes; other sections stay."""
    old = path.read_text() if path.exists() else "# eventkit benchmarks\n"
    parts = re.split(r"(?m)^(?=## )", old)
    mine = [q for q in parts[1:] if q.startswith(SECTION)]
    notes = re.search(r"<!-- pg-notes -->\n(.*?)<!-- pg-notes -->", mine[0], re.S) if mine else None
    if notes:
        section = section.replace("<!-- pg-notes -->\n<!-- pg-notes -->",
                                  f"<!-- pg-notes -->\n{notes.group(1)}<!-- pg-notes -->")
    kept = [q for q in parts[1:] if not q.startswith(SECTION)]
    path.write_text(parts[0].rstrip() + "\n\n" + "".join(q.rstrip() + "\n\n" for q in kept) + section)


def main() -> None:
    from _postgres import start_cluster

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", metavar="PATH")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--only", choices=PARTS, action="append", help="run this part only (repeatable; no --write)")
    args = ap.parse_args()
    if args.only and args.write:
        ap.error("--write rewrites the whole section: run every part")
    p = QUICK if args.quick else FULL
    m = machine()
    cluster = start_cluster()
    try:
        url = cluster.url
        global SERVER_PID
        if cluster.data_dir is not None:  # ours: restart it with production durability (its -c options win)
            from _postgres import _run

            d = cluster.data_dir
            options = (f"-p {url.rsplit(':', 1)[1].split('/')[0]} -k {d} -c listen_addresses=127.0.0.1 "
                       "-c fsync=on -c full_page_writes=on -c max_connections=200")
            _run([str(cluster.bin_dir / "pg_ctl"), "-D", str(d / "db"), "-o", options, "-l", str(d / "log"), "-w",
                  "-t", "60", "restart"], "restarting PostgreSQL with fsync on")
            SERVER_PID = int((d / "db" / "postmaster.pid").read_text().split()[0])
        pg = {k: sql(url, f"SHOW {k}")[0][0] for k in ("server_version", "fsync", "full_page_writes",
                                                       "synchronous_commit", "shared_buffers")}
        pg["version"] = pg.pop("server_version")
        t0 = time.perf_counter()
        results = {}
        for name, fn in (("bulk", bench_bulk), ("concurrent", bench_concurrent), ("sequential", bench_sequential)):
            if args.only and name not in args.only:
                continue
            t = time.perf_counter()
            results[name] = fn(url, p)
            print(f"{name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        if args.only:
            print(json.dumps({"load": [m["load"], os.getloadavg()[0]], **results}, indent=1))
            return
        section = report(m, pg, p, results, time.perf_counter() - t0, os.getloadavg()[0], args.quick)
    finally:
        cluster.stop()
        shutil.rmtree(WORK, ignore_errors=True)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "postgres": pg, "params": p, "results": results}, indent=1))
    if args.write:
        write_markdown(Path(args.write), section)


if __name__ == "__main__":
    main()
