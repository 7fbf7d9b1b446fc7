"""Fold benchmarks: declarative and Python folds, snapshots and time travel, side by side with the
eventsourcing library rebuilding the same aggregates from SQLite.

Usage:
    .venv/bin/python benchmarks/bench_folds.py                        # full run, prints a report
    .venv/bin/python benchmarks/bench_folds.py --write BENCHMARKS.md  # and rewrites its "## Folds" section
    .venv/bin/python benchmarks/bench_folds.py --quick                # tiny sizes, a smoke run (< 30 s)
    .venv/bin/python benchmarks/bench_folds.py --only state,pyfold    # some benchmarks only
    .venv/bin/python benchmarks/bench_folds.py --only statesql --store benchmarks/.work-scale/bank-1000000x101
                                     # the fold vs hand SQL on a store bench_scale.py built (100M events)

The generated store (``eventkit.sample.bank_events``: 100,000 accounts, about 10 million events,
on-time events appended in 1M-event chunks, then the late ones, then ``compact()``) and the
eventsourcing SQLite database are built once under ``benchmarks/.work-folds/`` and reused.

Every benchmark runs in its own Python process. Peak memory is the largest sum of the resident
set sizes of that process and all its children (Python-fold workers), sampled every 50 ms, and
cross-checked with ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Not benchmarks/.work: bench_store.py removes that whole folder when it finishes, and this store
# takes a minute and a half to build. The folder ignores itself (a ``.gitignore`` of ``*``).
WORK = HERE / ".work-folds"

FULL = {"accounts": 100_000, "per_account": 96, "chunk": 1_000_000,
        "es_accounts": 2_000, "lookups": 50, "repeats": 3}
QUICK = {"accounts": 2_000, "per_account": 20, "chunk": 20_000,
         "es_accounts": 100, "lookups": 10, "repeats": 1}
TARGETS = {"state_rate": 20e6, "state_ratio": 500.0, "py_rate": 1e6, "py_ratio": 20.0,
           "snap_seconds": 10.0, "lookup_ms": 50.0, "peak_mb": 2048.0}
YEAR = ("2025-01-01", "2025-12-31")

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


# ---------------------------------------------------------------------------------------------
# the folds (the same aggregates in all three worlds)
# ---------------------------------------------------------------------------------------------


def declarative_fold() -> Any:
    import eventkit as ek

    return ek.Fold("account", stream_type="account", fields={
        "balance": ek.sum("amount", event_types=["Deposited", "InterestPaid"])
                   - ek.sum("amount", event_types=["Withdrawn", "FeeCharged"]),
        "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen",
                                      "Unfrozen": "open", "Closed": "closed"}),
        "opened": ek.first("occurred_at", event_types=["Opened"]),
        "deposits": ek.count(event_types=["Deposited"]),
        "big_deposits": ek.count(event_types=["Deposited"], where="amount >= 1000"),
    })


def python_fold() -> Any:
    import eventkit as ek

    class Account(ek.PyFold):
        stream_type = "account"
        columns = ["amount"]

        def initial(self) -> dict:
            return {"balance": 0.0, "status": None, "opened": None, "deposits": 0, "big_deposits": 0}

        @ek.on("Opened")
        def opened(self, s: dict, e: Any) -> None:
            s["status"] = "open"
            s["opened"] = e.occurred_at

        @ek.on("Deposited")
        def deposited(self, s: dict, e: Any) -> None:
            s["balance"] += e.amount
            s["deposits"] += 1
            if e.amount >= 1000:
                s["big_deposits"] += 1

        @ek.on("InterestPaid")
        def interest(self, s: dict, e: Any) -> None:
            s["balance"] += e.amount

        @ek.on("Withdrawn", "FeeCharged")
        def debit(self, s: dict, e: Any) -> None:
            s["balance"] -= e.amount

        @ek.on("Frozen")
        def frozen(self, s: dict, e: Any) -> None:
            s["status"] = "frozen"

        @ek.on("Unfrozen")
        def unfrozen(self, s: dict, e: Any) -> None:
            s["status"] = "open"

        @ek.on("Closed")
        def closed(self, s: dict, e: Any) -> None:
            s["status"] = "closed"

    return Account()


# Module level: eventsourcing finds event classes again by topic (module:qualname).
from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0.0
        self.status = "open"
        self.deposits = 0
        self.big_deposits = 0

    @event("Deposited")
    def deposit(self, amount: float) -> None:
        self.balance += amount
        self.deposits += 1
        if amount >= 1000:
            self.big_deposits += 1

    @event("InterestPaid")
    def pay_interest(self, amount: float) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: float) -> None:
        self.balance -= amount

    @event("FeeCharged")
    def charge_fee(self, amount: float) -> None:
        self.balance -= amount

    @event("Frozen")
    def freeze(self) -> None:
        self.status = "frozen"

    @event("Unfrozen")
    def unfreeze(self) -> None:
        self.status = "open"

    @event("Closed")
    def close(self) -> None:
        self.status = "closed"


class Bank(Application):
    pass


def es_classes() -> Any:
    return Account, Bank


# ---------------------------------------------------------------------------------------------
# tasks (each runs in its own process)
# ---------------------------------------------------------------------------------------------


def store_path(p: dict) -> Path:
    if p.get("store"):
        return Path(p["store"])
    return WORK / f"folds-{p['accounts']}x{p['per_account']}"


def task_make_store(p: dict) -> dict:
    import eventkit as ek
    from eventkit.sample import bank_events, split_late

    path = store_path(p)
    done = path / "READY.json"
    if done.exists():
        return json.loads(done.read_text())
    if p.get("store"):  # --store: a store built elsewhere (bench_scale.py), never built or removed here
        raise SystemExit(f"{path} has no READY.json: not a finished bench_scale.py store")
    if path.exists():
        import shutil

        shutil.rmtree(path)
    t0 = time.perf_counter()
    frame = bank_events(accounts=p["accounts"], events_per_account=p["per_account"], seed=1)
    on_time, late = split_late(frame)
    del frame
    store = ek.open_store(path)
    for i in range(0, len(on_time), p["chunk"]):
        store.append_frame(on_time.iloc[i:i + p["chunk"]])
    store.append_frame(late)
    store.compact()
    info = {"events": int(len(on_time) + len(late)), "late": int(len(late)),
            "streams": int(p["accounts"]), "build_seconds": time.perf_counter() - t0}
    done.write_text(json.dumps(info))
    return info


def _es_path(p: dict) -> Path:
    return WORK / f"folds-es-{p['accounts']}x{p['per_account']}-{p['es_accounts']}.sqlite"


def _es_app(path: Path) -> Any:
    _, Bank = es_classes()
    return Bank(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                     "SQLITE_LOCK_TIMEOUT": "10"})


def task_make_es(p: dict) -> dict:
    """Save the first ``es_accounts`` accounts' events through an eventsourcing Application."""
    import uuid

    import eventkit as ek

    path = _es_path(p)
    marker = path.with_suffix(".json")
    if marker.exists():
        return json.loads(marker.read_text())
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    Account, _ = es_classes()
    store = ek.open_store(store_path(p))
    ids = [r[0] for r in store.sql(f"SELECT DISTINCT stream_id FROM events ORDER BY 1 "
                                   f"LIMIT {int(p['es_accounts'])}").fetchall()]
    frame = store.read_all(stream_ids=ids)
    frame = frame.sort_values(["stream_id", "version"], kind="stable")
    app = _es_app(path)
    t0 = time.perf_counter()
    methods = {"Deposited": "deposit", "InterestPaid": "pay_interest", "Withdrawn": "withdraw",
               "FeeCharged": "charge_fee"}
    no_args = {"Frozen": "freeze", "Unfrozen": "unfreeze", "Closed": "close"}
    aggregate_ids = {}
    agg = None
    n = 0
    for sid, et, amount, owner in zip(frame["stream_id"].tolist(), frame["event_type"].tolist(),
                                      frame["amount"].tolist(), frame["owner"].tolist()):
        if et == "Opened":
            if agg is not None:
                app.save(agg)
            agg = Account(owner=owner)
            aggregate_ids[sid] = str(agg.id)
        elif et in methods:
            getattr(agg, methods[et])(amount=amount)
        else:
            getattr(agg, no_args[et])()
        n += 1
    if agg is not None:
        app.save(agg)
    info = {"events": n, "streams": len(aggregate_ids), "save_seconds": time.perf_counter() - t0,
            "ids": list(aggregate_ids.values())}
    del uuid
    marker.write_text(json.dumps(info))
    return info


def task_es_rebuild(p: dict) -> dict:
    """eventsourcing: rebuild every saved aggregate (repository.get), no snapshots, no cache."""
    import uuid

    info = json.loads(_es_path(p).with_suffix(".json").read_text())
    app = _es_app(_es_path(p))
    ids = [uuid.UUID(i) for i in info["ids"]]
    best = None
    total = 0.0
    for _ in range(p["repeats"]):
        t0 = time.perf_counter()
        for i in ids:
            a = app.repository.get(i)
            total += a.balance
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return {"events": info["events"], "streams": len(ids), "seconds": best,
            "rate": info["events"] / best}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best_cpu(fn: Any, repeats: int) -> tuple[float, float, Any]:
    """Best wall time and best CPU time (all threads) of ``repeats`` runs: on a shared machine
    the CPU time of a query changes far less with the load than its wall time."""
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        out = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    return min(wall), min(cpu), out


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best, out  # type: ignore[return-value]


def _first_stream(store: Any) -> str:
    return store.sql("SELECT min(stream_id) FROM events").fetchall()[0][0]


def task_state(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = declarative_fold()
    fold.state(store, streams=_first_stream(store))  # warm: imports, first connection
    t, cpu, frame = _best_cpu(lambda: fold.state(store), p["repeats"])
    events = json.loads((store_path(p) / "READY.json").read_text())["events"]
    return {"events": events, "streams": len(frame), "seconds": t, "rate": events / t, "cpu_seconds": cpu,
            "balance_total": float(frame["balance"].sum()), "segments": len(store.snapshot().files)}


def task_pyfold(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = python_fold()
    workers = p.get("workers")
    fold.state(store, streams=_first_stream(store), workers=1)  # warm
    t, frame = _best(lambda: fold.state(store, workers=workers), 1)
    events = json.loads((store_path(p) / "READY.json").read_text())["events"]
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"events": events, "streams": len(frame), "seconds": t, "rate": events / t,
            "workers": workers, "balance_total": float(frame["balance"].sum()),
            "child_maxrss_mb": children}


def task_snapshots(p: dict) -> dict:
    """The change log (``fold.changes``) or the dense series (``fold.snapshots``) as a frame."""
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = declarative_fold()
    every = p.get("every", "1D")
    t0 = time.perf_counter()
    if p["kind"] == "changes":
        frame = fold.changes(store, every=every, start=YEAR[0], end=YEAR[1])
        col = "changed_at"
    else:
        try:
            frame = fold.snapshots(store, every=every, start=YEAR[0], end=YEAR[1])
        except ek.SeriesTooLarge as e:  # the default budget: refused before anything is built
            return {"refused": True, "seconds": time.perf_counter() - t0, "rows": e.rows,
                    "streams": e.streams, "points": e.points, "every": every, "message": str(e)}
        col = "as_of"
    t = time.perf_counter() - t0
    return {"rows": len(frame), "seconds": t, "kind": p["kind"], "every": every,
            "points": int(frame[col].nunique()), "streams": int(frame["stream_id"].nunique())}


# The two totals of the series benchmark, written by hand in DuckDB SQL over one Parquet file of
# the store's events (``SELECT * FROM events``: the same columns, the payload in a struct), with
# the meaning of the snapshot grid: an event counts at the first midnight at or after it (UTC),
# events before the first point count in it. Day numbers are computed from epoch microseconds
# (DuckDB's date_trunc on TIMESTAMPTZ goes through ICU and is several times slower).
_DAY = 86_400_000_000
_HAND_DAY = (f"greatest(((epoch_us(occurred_at) - {{origin}}) + {_DAY - 1}) // {_DAY}, 0)")
HAND_BALANCE = """
WITH e AS (
  SELECT {day} AS d,
         CASE WHEN event_type IN ('Deposited', 'InterestPaid') THEN data.amount
              WHEN event_type IN ('Withdrawn', 'FeeCharged') THEN -data.amount ELSE 0 END AS delta
  FROM read_parquet('{file}'))
SELECT d, sum(sum(delta)) OVER (ORDER BY d) AS balance
FROM e WHERE d <= {last} GROUP BY d ORDER BY d
"""
HAND_STATUS = """
WITH s AS (
  SELECT stream_id, {day} AS d, version,
         CASE event_type WHEN 'Opened' THEN 'open' WHEN 'Frozen' THEN 'frozen'
                         WHEN 'Unfrozen' THEN 'open' WHEN 'Closed' THEN 'closed' END AS status
  FROM read_parquet('{file}') WHERE event_type IN ('Opened', 'Frozen', 'Unfrozen', 'Closed')),
p AS (SELECT stream_id, d, arg_max(status, version) AS status FROM s WHERE d <= {last} GROUP BY ALL),
t AS (SELECT d, status, lag(status) OVER (PARTITION BY stream_id ORDER BY d) AS prev FROM p),
x AS (SELECT d, status, 1 AS delta FROM t UNION ALL SELECT d, prev, -1 FROM t WHERE prev IS NOT NULL),
y AS (SELECT d, status, sum(delta) AS n FROM x GROUP BY ALL)
SELECT d, status, sum(n) OVER (PARTITION BY status ORDER BY d) AS accounts FROM y ORDER BY d, status
"""


def parquet_path(p: dict, codec: str = "zstd") -> Path:
    if p.get("store"):  # beside the store, in its work folder (bench_scale's is git-ignored too)
        store = store_path(p).resolve()
        return store.parent / f"{store.name}-events-{codec}.parquet"
    return WORK / f"events-{p['accounts']}x{p['per_account']}-{codec}.parquet"


#: The export's DuckDB memory: sorting 100M events by stream spills to disk instead of holding
#: them (the 10M export without a limit peaked at 3.8 GB).
EXPORT_MEMORY = "2GB"


def task_export_parquet(p: dict) -> dict:
    """One Parquet file with every event of the store (for the hand-written SQL), compressed
    with ZSTD like the store's segments, and one with DuckDB's default (Snappy)."""
    import eventkit as ek

    store = ek.open_store(store_path(p))
    out = {}
    # --store: only what the fold comparison reads (the Snappy file is for the series benchmark).
    codecs = ("zstd", "zstd-by-stream") if p.get("store") else ("zstd", "snappy", "zstd-by-stream")
    todo = [c for c in codecs if not parquet_path(p, c).exists()]
    if todo:
        import shutil

        # Set once, before the instance spills: DuckDB refuses a new temp_directory after that.
        spill = parquet_path(p, "export").with_suffix(".spill")
        spill.mkdir(exist_ok=True)
        con = store.snapshot().connect()
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")
        con.execute(f"SET temp_directory = '{spill}'")
        for codec in todo:
            path = parquet_path(p, codec)
            tmp = path.with_suffix(".tmp")
            # By stream: the row order of the store's segments (sorted by stream_id, then position).
            order = "stream_id, position" if codec.endswith("by-stream") else "position"
            con.execute(f"COPY (SELECT * FROM events ORDER BY {order}) TO '{tmp}' "
                        f"(FORMAT parquet, COMPRESSION {codec.split('-')[0]})")
            tmp.rename(path)
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    for codec in codecs:
        out[f"{codec}_bytes"] = parquet_path(p, codec).stat().st_size
    out["exported"] = todo
    return out


def _year_days() -> tuple[int, int]:
    origin = dt.datetime.fromisoformat(YEAR[0]).replace(tzinfo=dt.timezone.utc)
    last = (dt.datetime.fromisoformat(YEAR[1]) - dt.datetime.fromisoformat(YEAR[0])).days
    return int(origin.timestamp()) * 10**6, last


def task_series_hand(p: dict) -> dict:
    """The hand-written SQL: daily balance total and accounts per status, a year of days."""
    import duckdb

    origin, last = _year_days()
    day = _HAND_DAY.format(origin=origin)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out: dict[str, Any] = {}
    for name, sql in (("balance", HAND_BALANCE), ("status", HAND_STATUS)):
        q = sql.format(day=day, file=parquet_path(p, p.get("codec", "zstd")), last=last)
        t, frame = _best(lambda q=q: con.sql(q).df(), p["repeats"])
        out[f"{name}_seconds"] = t
        out[f"{name}_rows"] = len(frame)
        if name == "balance":
            out["last_balance"] = float(frame["balance"].iloc[-1])
        else:
            # The hand SQL has a row only where a status's count changed that day: each status's
            # count on the last day is its latest running value (not only the rows dated that day).
            end = frame.sort_values("d").groupby("status")["accounts"].last()
            out["last_status"] = {str(k): int(v) for k, v in end.items() if v}
    out["seconds"] = out["balance_seconds"] + out["status_seconds"]
    return out


def task_series_ek(p: dict) -> dict:
    """eventkit: the same two answers with ``fold.aggregate`` on the store."""
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = declarative_fold()
    fold.state(store, streams=_first_stream(store))  # warm: imports, first connection
    out: dict[str, Any] = {}
    calls = {"balance": lambda: fold.aggregate(store, every="1D", start=YEAR[0], end=YEAR[1],
                                               values={"balance": "sum"}),
             "status": lambda: fold.aggregate(store, every="1D", start=YEAR[0], end=YEAR[1], by="status")}
    for name, call in calls.items():
        t, frame = _best(call, p["repeats"])
        out[f"{name}_seconds"] = t
        out[f"{name}_rows"] = len(frame)
        if name == "balance":
            out["last_balance"] = float(frame["balance"].iloc[-1])
        else:
            end = frame[frame["as_of"] == frame["as_of"].max()]
            out["last_status"] = {str(k): int(v) for k, v in zip(end["status"], end["streams"]) if v}
    out["seconds"] = out["balance_seconds"] + out["status_seconds"]
    return out


#: The declarative fold written by hand: one GROUP BY over one Parquet file of the same events.
HAND_STATE = """
SELECT stream_id,
  coalesce(sum(data.amount) FILTER (WHERE event_type IN ('Deposited', 'InterestPaid')), 0)
  - coalesce(sum(data.amount) FILTER (WHERE event_type IN ('Withdrawn', 'FeeCharged')), 0) AS balance,
  CASE arg_max(event_type, version) FILTER (WHERE event_type IN ('Opened', 'Frozen', 'Unfrozen', 'Closed'))
    WHEN 'Opened' THEN 'open' WHEN 'Frozen' THEN 'frozen' WHEN 'Unfrozen' THEN 'open'
    WHEN 'Closed' THEN 'closed' END AS status,
  arg_min(occurred_at, version) FILTER (WHERE event_type = 'Opened') AS opened,
  count(*) FILTER (WHERE event_type = 'Deposited') AS deposits,
  count(*) FILTER (WHERE event_type = 'Deposited' AND data.amount >= 1000) AS big_deposits,
  max(version) AS version, max(position) AS position
FROM read_parquet('{file}') WHERE stream_type = 'account' GROUP BY stream_id ORDER BY stream_id
"""


def task_state_hand(p: dict) -> dict:
    """The hand-written fold over one Parquet file (``HAND_STATE``), into pandas like ``fold.state``."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    q = HAND_STATE.format(file=parquet_path(p, p.get("codec", "zstd")))
    con.sql(q.replace("GROUP BY", "AND stream_id = 'x' GROUP BY")).df()  # warm: the file's footer
    t, cpu, frame = _best_cpu(lambda: con.sql(q).df(), p["repeats"])
    return {"seconds": t, "cpu_seconds": cpu, "streams": len(frame), "balance_total": float(frame["balance"].sum())}


def task_lookup(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = declarative_fold()
    rng = random.Random(5)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    ids = sorted(r[0] for r in store.sql("SELECT DISTINCT stream_id FROM events").fetchall())
    fold.state(store, streams=ids[0], as_of=start)  # warm
    times = []
    for _ in range(p["lookups"]):
        sid = rng.choice(ids)
        as_of = start + dt.timedelta(seconds=rng.randint(0, 365 * 86400))
        t0 = time.perf_counter()
        fold.state(store, streams=sid, as_of=as_of)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_ms": 1e3 * statistics.median(times), "p90_ms": 1e3 * times[int(len(times) * 0.9)],
            "max_ms": 1e3 * times[-1], "lookups": len(times)}


TASKS = {name[5:]: fn for name, fn in globals().items() if name.startswith("task_")}


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


def _tree_rss_kb(pid: int) -> int:
    """Resident set of a process and all its descendants, in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        total += rss.get(q, 0)
        todo.extend(children.get(q, []))
    return total


def run_task(name: str, params: dict) -> dict:
    """Run one task in a fresh process; return its JSON result plus peak memory."""
    cmd = [sys.executable, __file__, "--task", name, "--params", json.dumps(params)]
    load = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    import threading

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()  # reads as it goes: a large result never blocks the child
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"task {name} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    # The sampler can miss a short peak; the task's own ru_maxrss is a floor for the tree's.
    result["peak_mb"] = max(peak[0] / 1024, result.get("self_maxrss_mb", 0.0))
    result["load_before"] = load
    return result


def fmt_rate(r: float) -> str:
    return f"{r / 1e6:.2f}M ev/s" if r >= 1e5 else f"{r / 1e3:.1f}k ev/s"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(m: dict, res: dict, p: dict, command: str, title: str = "Folds") -> str:
    build = res["make_store"]
    es = res.get("es_rebuild")
    lines = [
        f"## {title}",
        "",
        f"Measured {m['date']} with `{command}`: {m['nproc']} cores ({m['cpu']}), "
        f"{m['memory_gb']} GB RAM, Python {m['python']}, DuckDB {m['duckdb']}, pyarrow {m['pyarrow']}, "
        f"pandas {m['pandas']}, numpy {m['numpy']}, eventsourcing {m['eventsourcing']}; "
        f"1-minute load average at the start: {m['load']:.1f}, at the end: {m.get('load_end', m['load']):.1f} "
        "(the machine is shared: compare figures measured side by side, in the same round).",
        "",
        (f"Store: `{p['store']}`, built by `benchmarks/bench_scale.py` (its READY.json): "
         f"{build['events']:,} events in {build['streams']:,} streams ({build['late']:,} of them late)"
         + (f", {res['state_ek_0']['segments']} segment file(s)" if "state_ek_0" in res else "")
         + ". The fold is `declarative_fold()` of this script. "
         if p.get("store") else
         f"Store: `eventkit.sample.bank_events(accounts={p['accounts']:,}, events_per_account={p['per_account']})` "
         f"= {build['events']:,} events in {build['streams']:,} streams ({build['late']:,} of them late, appended "
         "after the rest, so backdated), appended in 1M-event frames and compacted. The fold is the README's "
         "account fold (balance over four event types, a mapped status, the opening time, two counts); the "
         "Python fold and the eventsourcing aggregate compute the same fields. ")
        + "Each benchmark runs in a fresh "
        "process; peak memory is the sampled maximum of the summed RSS of the process and its workers.",
        "",
        "| benchmark | result | peak memory |",
        "|---|---|---|",
    ]
    rows = []
    checks: list[str] = []
    if "state" in res:
        s = res["state"]
        lines.append(f"| declarative fold, every stream ({s['events']:,} events, {s['streams']:,} streams) "
                     f"| {s['seconds']:.2f} s = {fmt_rate(s['rate'])} | {s['peak_mb']:.0f} MB |")
        rows.append(("declarative fold", fmt_rate(s["rate"]), ">= 20M ev/s", verdict(s["rate"] >= TARGETS["state_rate"])))
    for key, label in (("pyfold", "Python fold, every stream (default workers)"),
                       ("pyfold1", "Python fold, every stream, workers=1")):
        if key in res:
            s = res[key]
            lines.append(f"| {label} | {s['seconds']:.2f} s = {fmt_rate(s['rate'])} | {s['peak_mb']:.0f} MB |")
    if "pyfold" in res:
        rows.append(("Python fold", fmt_rate(res["pyfold"]["rate"]), ">= 1M ev/s",
                     verdict(res["pyfold"]["rate"] >= TARGETS["py_rate"])))
    if es:
        lines.append(f"| eventsourcing: `repository.get` of {es['streams']:,} aggregates ({es['events']:,} events, "
                     f"SQLite) | {es['seconds']:.2f} s = {fmt_rate(es['rate'])} | {es['peak_mb']:.0f} MB |")
    if "snap_changes" in res:
        s = res["snap_changes"]
        lines.append(f"| `fold.changes`, daily over a year, all streams: {s['rows']:,} rows | {s['seconds']:.2f} s "
                     f"| {s['peak_mb']:.0f} MB |")
    if "snap_dense" in res:
        s = res["snap_dense"]
        what = (f"refused with `SeriesTooLarge` ({s['rows']:,} rows > the default 10,000,000)" if s.get("refused")
                else f"{s['rows']:,} rows")
        lines.append(f"| `fold.snapshots` (dense), daily over a year, all streams: {what} | {s['seconds']:.2f} s "
                     f"| {s['peak_mb']:.0f} MB |")
    if "snap_dense_weekly" in res:
        s = res["snap_dense_weekly"]
        lines.append(f"| `fold.snapshots` (dense), weekly over a year, all streams: {s['rows']:,} rows "
                     f"| {s['seconds']:.2f} s | {s['peak_mb']:.0f} MB |")
    rounds = sorted(int(k.rsplit("_", 1)[1]) for k in res if k.startswith("series_ek_"))
    if rounds:
        for i in rounds:
            h, e = res[f"series_hand_{i}"], res[f"series_ek_{i}"]
            lines.append(f"| round {i + 1}: hand-written DuckDB SQL over one Parquet file (ZSTD, as the store's segments): balance per day "
                         f"{h['balance_seconds']:.2f} s + accounts per status per day {h['status_seconds']:.2f} s "
                         f"| {h['seconds']:.2f} s | {h['peak_mb']:.0f} MB |")
            lines.append(f"| round {i + 1}: `fold.aggregate` on the store: balance per day "
                         f"{e['balance_seconds']:.2f} s + accounts per status per day {e['status_seconds']:.2f} s "
                         f"| {e['seconds']:.2f} s = {e['seconds'] / h['seconds']:.2f}x the hand SQL | {e['peak_mb']:.0f} MB |")
        if "series_hand_snappy" in res:
            h = res["series_hand_snappy"]
            lines.append(f"| the hand SQL over the same events in a Snappy-compressed file (DuckDB's default codec) "
                         f"| {h['seconds']:.2f} s ({h['balance_seconds']:.2f} s + {h['status_seconds']:.2f} s) "
                         f"| {h['peak_mb']:.0f} MB |")
        ratio = min(res[f"series_ek_{i}"]["seconds"] / res[f"series_hand_{i}"]["seconds"] for i in rounds)
        worst = max(res[f"series_ek_{i}"]["seconds"] / res[f"series_hand_{i}"]["seconds"] for i in rounds)
        peak = max(res[f"series_ek_{i}"]["peak_mb"] for i in rounds)
        rows.append(("series totals (balance + status per day, a year) / hand SQL", f"{ratio:.2f}x (worst round {worst:.2f}x)",
                     "<= 2x", verdict(ratio <= 2.0)))
        rows.append(("series totals, peak memory", f"{peak:.0f} MB", "< 2 GB", verdict(peak < TARGETS["peak_mb"])))
        e, h = res[f"series_ek_{rounds[0]}"], res[f"series_hand_{rounds[0]}"]
        same_status = e["last_status"] == h["last_status"]
        same_balance = abs(e["last_balance"] - h["last_balance"]) <= 1e-6 * abs(h["last_balance"])
        checks.append(f"Answers checked against each other: balance on the last day {e['last_balance']:,.2f} "
                      f"(hand SQL {h['last_balance']:,.2f}, {'equal' if same_balance else '**different**'}); "
                      f"accounts per status on the last day {e['last_status']} "
                      f"({'equal' if same_status else '**different**: ' + str(h['last_status'])}).")
    fold_rounds = sorted(int(k.rsplit("_", 1)[1]) for k in res if k.startswith("state_ek_"))
    if fold_rounds:
        for i in fold_rounds:
            h, e = res[f"state_hand_{i}"], res[f"state_ek_{i}"]
            lines.append(f"| round {i + 1} (1-minute load average {h['load_before']:.1f} to {e['load_before']:.1f}): "
                         "the fold as hand-written DuckDB SQL over one Parquet file (ZSTD) "
                         f"| {h['seconds']:.3f} s (CPU {h['cpu_seconds']:.2f} s) | {h['peak_mb']:.0f} MB |")
            if f"state_sorted_{i}" in res:
                h2 = res[f"state_sorted_{i}"]
                lines.append(f"| round {i + 1}: the same SQL over one Parquet file sorted by stream_id (the "
                             f"store's row order) | {h2['seconds']:.3f} s (CPU {h2['cpu_seconds']:.2f} s) | "
                             f"{h2['peak_mb']:.0f} MB |")
            lines.append(f"| round {i + 1}: declarative `fold.state(store)` | {e['seconds']:.3f} s = "
                         f"{e['seconds'] / h['seconds']:.2f}x the hand SQL (CPU {e['cpu_seconds']:.2f} s = "
                         f"{e['cpu_seconds'] / h['cpu_seconds']:.2f}x) | {e['peak_mb']:.0f} MB |")
        for key, what in (("state_hand", "file by position"), ("state_sorted", "file by stream")):
            if f"{key}_{fold_rounds[0]}" not in res:
                continue
            ratios = [res[f"state_ek_{i}"]["seconds"] / res[f"{key}_{i}"]["seconds"] for i in fold_rounds]
            cpus = [res[f"state_ek_{i}"]["cpu_seconds"] / res[f"{key}_{i}"]["cpu_seconds"] for i in fold_rounds]
            med = sorted(ratios)[len(ratios) // 2]
            rows.append((f"declarative fold / hand SQL, {what} (median of rounds)", f"{med:.2f}x "
                         f"(rounds: {', '.join(f'{r:.2f}x' for r in ratios)}; CPU: "
                         f"{', '.join(f'{r:.2f}x' for r in cpus)})", "<= 1.15x", verdict(med <= 1.15)))
            # On a shared machine the CPU time (all threads) moves far less with the load than the wall.
            cmed = sorted(cpus)[len(cpus) // 2]
            rows.append((f"the same by CPU time, {what} (median of rounds)", f"{cmed:.2f}x", "<= 1.15x",
                         verdict(cmed <= 1.15)))
        if "export_parquet" in res:
            x = res["export_parquet"]
            if x.get("exported"):
                checks.append(f"The Parquet files for the hand SQL ({', '.join(x['exported'])}) were exported from the "
                              f"store in this run by DuckDB (`memory_limit` {EXPORT_MEMORY}, spilling to disk): "
                              f"{x.get('wall_seconds', 0):.0f} s, peak memory {x['peak_mb']:.0f} MB.")
        e, h = res[f"state_ek_{fold_rounds[0]}"], res[f"state_hand_{fold_rounds[0]}"]
        same = abs(e["balance_total"] - h["balance_total"]) <= 1e-6 * abs(h["balance_total"]) and e["streams"] == h["streams"]
        checks.append(f"Fold answers checked: {e['streams']:,} streams, total balance {e['balance_total']:,.2f} "
                      f"(hand SQL {h['balance_total']:,.2f}: {'equal' if same else '**different**'}).")
    if "lookup" in res:
        s = res["lookup"]
        lines.append(f"| one stream as of a time, {s['lookups']} random streams and times | median "
                     f"{s['median_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms, max {s['max_ms']:.1f} ms | {s['peak_mb']:.0f} MB |")
        rows.append(("one stream as of a time (median)", f"{s['median_ms']:.1f} ms", "< 50 ms",
                     verdict(s["median_ms"] < TARGETS["lookup_ms"])))
    if es:
        for key, name, target in (("state", "declarative / eventsourcing", "state_ratio"),
                                  ("pyfold", "Python fold / eventsourcing", "py_ratio")):
            if key in res:
                r = res[key]["rate"] / es["rate"]
                rows.append((name, f"{r:,.0f}x", f">= {TARGETS[target]:.0f}x", verdict(r >= TARGETS[target])))
    # The series frames (changes, dense) and the hand SQL have their own rows above.
    peaks = [v["peak_mb"] for k, v in res.items() if k not in ("make_store", "make_es", "export_parquet")
             and "peak_mb" in v and not k.startswith(("snap_", "series_"))]
    if peaks:
        rows.append(("peak memory (max of the targeted runs)", f"{max(peaks):.0f} MB", "< 2 GB",
                     verdict(max(peaks) < TARGETS["peak_mb"])))
    lines += ["", "| target | measured | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    if checks:
        lines += [""] + checks
    if es:
        lines += ["", f"eventsourcing runs on a subset ({es['streams']:,} accounts) because it is far slower; "
                  "its rate is events rebuilt per second (best of the repeats), each aggregate read with "
                  "`app.repository.get(id)` from an `Application` on `eventsourcing.sqlite` (no snapshots, no cache). "
                  "The events were saved once through the same application (`Aggregate` with `@event` methods)."]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, title: str = "Folds") -> None:
    """Replace the '## <title>' section of ``path`` (or append it), keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    ap.add_argument("--write", metavar="FILE", help="rewrite the '## Folds' section of FILE")
    ap.add_argument("--section", default="Folds",
                    help="the section --write rewrites (e.g. 'Fold series' for --only series,snapshots,dense)")
    ap.add_argument("--only", help="comma-separated: state,es,pyfold,pyfold1,series,snapshots,dense,lookup,statesql")
    ap.add_argument("--store", metavar="PATH",
                    help="use this store, built by bench_scale.py (READY.json gives its event count), "
                         "instead of building one; with --only statesql, state or lookup")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        sys.path.insert(0, str(ROOT))
        result = TASKS[args.task](json.loads(args.params))
        result["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result), flush=True)
        os._exit(0)  # eventsourcing's connection pool can keep the interpreter from exiting
    p = dict(QUICK if args.quick else FULL)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / ".gitignore").write_text("*\n")
    only = set(args.only.split(",")) if args.only else {"state", "es", "pyfold", "pyfold1", "series",
                                                       "snapshots", "dense", "lookup"}
    if args.store:
        if not args.only or only - {"statesql", "state", "lookup"}:
            ap.error("--store runs only --only statesql, state or lookup (the others need this script's store)")
        if not (Path(args.store) / "READY.json").exists():
            ap.error(f"--store {args.store}: no READY.json there (not a finished bench_scale.py store)")
        p["store"] = str(Path(args.store).resolve())
    m = machine()
    res: dict[str, dict] = {}

    def step(key: str, task: str, **extra: Any) -> None:
        t0 = time.perf_counter()
        res[key] = run_task(task, {**p, **extra})
        res[key]["wall_seconds"] = time.perf_counter() - t0
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res[key].items() if k != "ids"}
        print(f"{key:13s} {time.perf_counter() - t0:7.1f} s  {shown}", flush=True)

    step("make_store", "make_store")
    if "es" in only:
        step("make_es", "make_es")
        step("es_rebuild", "es_rebuild")
    if "state" in only:
        step("state", "state")
    if "pyfold" in only:
        step("pyfold", "pyfold")
    if "pyfold1" in only:
        step("pyfold1", "pyfold", workers=1)
    if "series" in only:
        step("export_parquet", "export_parquet")
        # Side by side, twice each, alternating: the machine is shared, so the ratio of the same
        # round is the figure; the best round of each is reported.
        for i in range(2):
            step(f"series_hand_{i}", "series_hand")
            step(f"series_ek_{i}", "series_ek")
        step("series_hand_snappy", "series_hand", codec="snappy")
    if "snapshots" in only:
        step("snap_changes", "snapshots", kind="changes")
    if "dense" in only:
        step("snap_dense", "snapshots", kind="dense")
        step("snap_dense_weekly", "snapshots", kind="dense", every="1W")
    if "statesql" in only:
        step("export_parquet", "export_parquet")
        # Side by side, alternating, three rounds: the ratio within a round is the figure.
        for i in range(3):
            step(f"state_hand_{i}", "state_hand")
            step(f"state_sorted_{i}", "state_hand", codec="zstd-by-stream")
            step(f"state_ek_{i}", "state")
    if "lookup" in only:
        step("lookup", "lookup")
    m["load_end"] = os.getloadavg()[0]
    command = "python benchmarks/bench_folds.py" + (" --quick" if args.quick else "") + \
              (f" --only {args.only}" if args.only else "") + (f" --store {args.store}" if args.store else "") + \
              (f" --write {args.write}" if args.write else "") + \
              (f" --section '{args.section}'" if args.section != "Folds" else "")
    text = report(m, res, p, command, args.section)
    print()
    print(text)
    if args.write:
        write_section(Path(args.write), text, args.section)


if __name__ == "__main__":
    main()
