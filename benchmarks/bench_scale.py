"""Scale on one machine: the bank sample at up to a million accounts (about 100 million events).

Usage:
    .venv/bin/python benchmarks/bench_scale.py --accounts 1000000              # ~100M events
    .venv/bin/python benchmarks/bench_scale.py --accounts 100000 --dask        # ~10M, and Dask vs local
    .venv/bin/python benchmarks/bench_scale.py --accounts 2000 --quick         # a smoke run (seconds)
    .venv/bin/python benchmarks/bench_scale.py ... --write BENCHMARKS.md       # rewrite "## Scale"

Phases, each in its own process (peak memory is that process's ``ru_maxrss``, its Dask worker
processes counted separately):

- ``build``: ``eventkit.sample.bank_events`` generated in chunks of accounts (stream ids made
  unique per chunk), each chunk's on-time events appended with ``append_frame`` in 1M-event
  frames, then its late (backdated) events; finally ``store.compact()``. Reused when present.
- ``fold``: the README's account fold, every stream (``fold.state``), best of 2.
- ``daily``: a year of daily totals: ``fold.aggregate(every="1D", values={"balance": "sum"})``
  and accounts per status per day (``by="status"``).
- ``whatif``: ``ek.Scenario(store).drop(event_types=["FeeCharged"]).compare(fold)``.
- ``dask`` (with ``--dask``): the same fold on a 2-worker ``LocalCluster`` (worker processes,
  one thread each) against the local fold, and the per-task cost, for the estimate in
  BENCHMARKS.md.

Stores live in ``benchmarks/.work-scale/`` (ignored by git), one per size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work-scale"
YEAR = ("2025-01-01", "2025-12-31")
NOTES = "<!-- scale-notes -->"

from _machine import machine  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def account_fold() -> Any:
    import eventkit as ek

    return ek.Fold("account", stream_type="account", fields={
        "balance": ek.sum("amount", event_types=["Deposited", "InterestPaid"])
                   - ek.sum("amount", event_types=["Withdrawn", "FeeCharged"]),
        "status": ek.last_event_type({"Opened": "open", "Frozen": "frozen", "Unfrozen": "open",
                                      "Closed": "closed"}),
        "opened_at": ek.first("occurred_at", event_types=["Opened"]),
        "deposits": ek.count(event_types=["Deposited"]),
        "withdrawals": ek.count(event_types=["Withdrawn"]),
    })


def store_path(p: dict) -> Path:
    return WORK / f"bank-{p['accounts']}x{p['per_account']}"


def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def task_build(p: dict) -> dict:
    import eventkit as ek
    from eventkit.sample import bank_events, split_late

    path = store_path(p)
    done = path / "READY.json"
    if done.exists():
        return json.loads(done.read_text())
    if path.exists():
        import shutil

        shutil.rmtree(path)
    store = ek.open_store(path)
    t0 = time.perf_counter()
    events = late_n = 0
    gen = append = 0.0
    for i, first in enumerate(range(0, p["accounts"], p["chunk_accounts"])):
        n = min(p["chunk_accounts"], p["accounts"] - first)
        t = time.perf_counter()
        frame = bank_events(accounts=n, events_per_account=p["per_account"], seed=100 + i)
        # Unique stream ids across chunks: each chunk numbers its accounts from 1.
        frame["stream_id"] = f"c{i:03d}-" + frame["stream_id"].astype(str)
        on_time, late = split_late(frame)
        del frame
        gen += time.perf_counter() - t
        t = time.perf_counter()
        for j in range(0, len(on_time), 1_000_000):
            store.append_frame(on_time.iloc[j:j + 1_000_000])
        store.append_frame(late)
        append += time.perf_counter() - t
        events += len(on_time) + len(late)
        late_n += len(late)
        del on_time, late
        print(f"  chunk {i}: {events:,} events, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    t = time.perf_counter()
    compacted = store.compact()
    compact_s = time.perf_counter() - t
    store.close()
    info = {"events": events, "late": late_n, "streams": p["accounts"], "generate_seconds": gen,
            "append_seconds": append, "compact_seconds": compact_s,
            "build_seconds": time.perf_counter() - t0, "segments": str(compacted),
            "disk_bytes": _disk_bytes(path),
            # kept with the store: a later run that reuses it reports the build's peak, not its own
            "build_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    done.write_text(json.dumps(info))
    return info


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best, out  # type: ignore[return-value]


def task_fold(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = account_fold()
    t, frame = _best(lambda: fold.state(store), p["repeats"])
    return {"seconds": t, "streams": len(frame), "balance_total": float(frame["balance"].sum())}


def task_daily(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = account_fold()
    t0 = time.perf_counter()
    bal = fold.aggregate(store, every="1D", start=YEAR[0], end=YEAR[1], values={"balance": "sum"})
    t1 = time.perf_counter()
    status = fold.aggregate(store, every="1D", start=YEAR[0], end=YEAR[1], by="status")
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "balance_seconds": t1 - t0, "status_seconds": t2 - t1,
            "days": int(bal["as_of"].nunique()), "status_rows": len(status),
            "last_balance": float(bal["balance"].iloc[-1])}


def task_whatif(p: dict) -> dict:
    import eventkit as ek

    store = ek.open_store(store_path(p))
    fold = account_fold()
    t0 = time.perf_counter()
    diff = ek.Scenario(store, name="no fees").drop(event_types=["FeeCharged"]).compare(fold)
    return {"seconds": time.perf_counter() - t0, "streams_differing": len(diff),
            "balance_diff": float(diff["balance_diff"].sum()) if len(diff) else 0.0}


def task_dask(p: dict) -> dict:
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    import eventkit as ek
    from eventkit.fold import distributed as dist

    store = ek.open_store(store_path(p))
    fold = account_fold()
    t_local, local = _best(lambda: fold.state(store), p["repeats"])
    out: dict[str, Any] = {"local_seconds": t_local}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        fold.state(store, streams=local["stream_id"].iloc[0], scheduler=client)  # warm: imports on workers
        t_dask, got = _best(lambda: fold.state(store, scheduler=client), p["repeats"])
        pd.testing.assert_frame_equal(got, local, check_exact=False, rtol=1e-9)
        # The per-task cost: one segment group folded on a worker, timed there.
        snap = dist.take_snapshot(store, known_at=None, stream_type=fold.stream_type, streams=None)
        parts = dist.split(snap, len(snap.files))
        spec = dict(stream_type=fold.stream_type, as_of=None, streams=None)

        def timed(part: Any) -> tuple[float, int]:
            t = time.perf_counter()
            table = dist._state_task(part, fold, spec)
            return time.perf_counter() - t, table.num_rows

        per = client.gather([client.submit(timed, part, pure=False) for part in parts])
    events = json.loads((store_path(p) / "READY.json").read_text())["events"]
    out.update({"dask_seconds": t_dask, "tasks": len(dist.split(snap, 2 * 2)), "segments": len(snap.files),
                "segment_task_seconds": [round(s, 4) for s, _ in per], "events": events,
                "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})
    return out


def _tiny_path(p: dict, auto: bool) -> Path:
    return WORK / f"tiny-{p['tiny']}x10-{'auto' if auto else 'off'}"


def task_tiny_build(p: dict) -> dict:
    """``p['tiny']`` bulk appends of 10 events each (``bulk_threshold=1``): one segment per append."""
    import pandas as pd

    import eventkit as ek

    path = _tiny_path(p, p["auto"])
    if path.exists():
        import shutil

        shutil.rmtree(path)
    store = ek.open_store(path, bulk_threshold=1, auto_compact=p["auto"])
    frames = [pd.DataFrame({"stream_id": [f"s{(i * 10 + j) % 1000}" for j in range(10)], "event_type": "Deposited",
                            "amount": [float(j) for j in range(10)]}) for i in range(p["tiny"])]
    t0 = time.perf_counter()
    for frame in frames:
        store.append_frame(frame)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "per_append_ms": 1e3 * seconds / p["tiny"], "segments": store.info().segments}


def task_tiny_query(p: dict) -> dict:
    """In a fresh process: open the store and run the first query (count(*)), then a second."""
    import eventkit as ek

    t0 = time.perf_counter()
    store = ek.open_store(_tiny_path(p, p["auto"]))
    t1 = time.perf_counter()
    n = store.sql("SELECT count(*) FROM events").fetchall()[0][0]
    t2 = time.perf_counter()
    store.sql("SELECT count(*) FROM events").fetchall()
    t3 = time.perf_counter()
    return {"open_ms": 1e3 * (t1 - t0), "first_query_ms": 1e3 * (t2 - t1), "second_query_ms": 1e3 * (t3 - t2),
            "events": n, "segments": store.info().segments}


TASKS = {"tiny_build": task_tiny_build, "tiny_query": task_tiny_query, "build": task_build, "fold": task_fold, "daily": task_daily, "whatif": task_whatif, "dask": task_dask}


def run_task(name: str, params: dict) -> dict:
    cmd = [sys.executable, __file__, "--task", name, "--params", json.dumps(params)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"task {name} failed:\n{proc.stderr[-4000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def report(m: dict, res: dict, p: dict, command: str) -> str:
    b = res["build"]
    ev = b["events"]
    mb = lambda r: f"{r['self_maxrss_mb']:.0f} MB"  # noqa: E731
    lines = [
        f"## Scale ({p['accounts']:,} accounts)", "",
        f"Measured {m['date']} with `{command}`: {m['nproc']} cores, {m['memory']} RAM; "
        f"1-minute load average at the start {m.get('load_start', 0):.1f}, at the end {m.get('load_end', 0):.1f} "
        "(the machine is shared with other sessions: figures are pessimistic).", "",
        f"Store: `bank_events` at {p['accounts']:,} accounts x {p['per_account']} events per account = "
        f"**{ev:,} events** ({b['late']:,} late, backdated), generated in chunks of {p['chunk_accounts']:,} "
        f"accounts, appended in 1M-event frames, then compacted. Disk: **{b['disk_bytes'] / 2**30:.2f} GiB** "
        f"({b['disk_bytes'] / ev:.0f} bytes per event).", "",
        "| phase | time | peak memory |", "|---|---:|---:|",
    ]
    if b.get("partial"):
        lines[-3:-3] = [f"**Partial build**: {b['partial']}; the phases below ran on the {ev:,} events it "
                        f"had stored ({b['segments']}).", ""]
    else:
        lines.append(f"| build: generate {b['generate_seconds']:.0f} s + append {b['append_seconds']:.0f} s "
                     f"({ev / max(b['append_seconds'], 1e-9) / 1e6:.2f}M ev/s) + compact {b['compact_seconds']:.0f} s "
                     f"| {b['build_seconds']:.0f} s | {b.get('build_maxrss_mb', b['self_maxrss_mb']):.0f} MB |")
    if "fold" in res:
        f = res["fold"]
        lines.append(f"| declarative fold, every stream ({f['streams']:,}) | {f['seconds']:.2f} s = "
                     f"{ev / f['seconds'] / 1e6:.1f}M ev/s | {mb(f)} |")
    if "daily" in res:
        d = res["daily"]
        lines.append(f"| a year of daily totals: balance per day {d['balance_seconds']:.1f} s + accounts per "
                     f"status per day {d['status_seconds']:.1f} s | {d['seconds']:.1f} s | {mb(d)} |")
    if "whatif" in res:
        w = res["whatif"]
        lines.append(f"| what-if \"no fees\" vs baseline, every stream ({w['streams_differing']:,} differ) "
                     f"| {w['seconds']:.1f} s | {mb(w)} |")
    if "dask" in res:
        d = res["dask"]
        per = sorted(d["segment_task_seconds"])
        lines += ["", f"Dask: the same fold on a `LocalCluster(n_workers=2, threads_per_worker=1)` "
                  f"(worker processes) vs local DuckDB, best of {p['repeats']}:", "",
                  "| | seconds |", "|---|---:|",
                  f"| local `fold.state(store)` | {d['local_seconds']:.2f} |",
                  f"| `fold.state(store, scheduler=client)`, {d['tasks']} tasks | {d['dask_seconds']:.2f} "
                  f"({d['dask_seconds'] / d['local_seconds']:.2f}x local) |",
                  f"| one task per segment ({d['segments']} segments): median per task, timed on the worker "
                  f"| {per[len(per) // 2]:.3f} (max {per[-1]:.3f}) |"]
    return "\n".join(lines) + "\n"


def tiny_report(m: dict, p: dict, args: Any) -> None:
    res = {}
    for auto in (True, False):
        key = f"tiny_build_{'auto' if auto else 'off'}"
        res[key] = run_task("tiny_build", {**p, "auto": auto})
        print(f"{key:16s} {res[key]}", flush=True)
        # the first query, each time in a fresh process: the median of three (one is at a load spike's mercy)
        runs = [run_task("tiny_query", {**p, "auto": auto}) for _ in range(3)]
        print(f"tiny_query_{'auto' if auto else 'off'} {runs}", flush=True)
        res[f"tiny_query_{'auto' if auto else 'off'}"] = {
            **sorted(runs, key=lambda r: r["first_query_ms"])[1], "first_query_runs_ms": [r["first_query_ms"] for r in runs]}
    m["load_end"] = os.getloadavg()[0]
    n = p["tiny"]
    lines = [f"## Automatic compaction ({n:,} small bulk appends)", "",
             f"Measured {m['date']} with `python benchmarks/bench_scale.py --tiny {n}`: {m['nproc']} cores; "
             f"1-minute load average {m['load_start']:.1f} at the start, {m['load_end']:.1f} at the end "
             "(shared machine). Each store gets "
             f"{n:,} `append_frame` calls of 10 events with `bulk_threshold=1` (a segment per append); "
             "then, in a fresh process, `ek.open_store` and the first `store.sql('SELECT count(*) FROM events')` "
             "(three fresh processes: the median, all three in brackets).",
             "", "| | appends | per append | segments | open | first query | second query |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for auto in ("auto", "off"):
        b, q = res[f"tiny_build_{auto}"], res[f"tiny_query_{auto}"]
        label = "`auto_compact=True` (default)" if auto == "auto" else "`auto_compact=False` (before)"
        lines.append(f"| {label} | {b['seconds']:.0f} s | {b['per_append_ms']:.1f} ms | {q['segments']:,} | "
                     f"{q['open_ms']:.1f} ms | {q['first_query_ms']:.0f} ms "
                     f"({', '.join(f'{x:.0f}' for x in q['first_query_runs_ms'])}) | {q['second_query_ms']:.0f} ms |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.write:
        write_section(Path(args.write), text, f"Automatic compaction ({n:,} small bulk appends)")


def write_section(path: Path, section: str, title: str) -> None:
    text = path.read_text() if path.exists() else ""
    head = f"## {title}"
    if head in text:
        before, rest = text.split(head, 1)
        nxt = rest.find("\n## ")
        # Hand-written notes between two NOTES markers survive a rewrite.
        old = rest[:nxt] if nxt >= 0 else rest
        if old.count(NOTES) == 2 and NOTES not in section:
            section = section.rstrip("\n") + "\n\n" + NOTES + old.split(NOTES)[1] + NOTES + "\n"
        text = before + section.rstrip("\n") + ("\n" + rest[nxt:] if nxt >= 0 else "\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--per-account", type=int, default=96)
    ap.add_argument("--chunk-accounts", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="2,000 accounts: a smoke run")
    ap.add_argument("--dask", action="store_true", help="also the fold on a 2-worker Dask LocalCluster")
    ap.add_argument("--only", help="comma-separated phases after the build: fold,daily,whatif,dask")
    ap.add_argument("--tiny", type=int, metavar="N",
                    help="only the automatic-compaction benchmark: N bulk appends of 10 events, with and "
                         "without auto_compact, then the first query on each store in a fresh process")
    ap.add_argument("--write", metavar="FILE", help="rewrite the '## Scale (N accounts)' section of FILE")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results")
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.task:
        sys.path.insert(0, str(ROOT))
        result = TASKS[args.task](json.loads(args.params))
        result["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result), flush=True)
        os._exit(0)
    p = {"accounts": 2_000 if args.quick else args.accounts, "per_account": args.per_account,
         "chunk_accounts": args.chunk_accounts, "repeats": 2}
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / ".gitignore").write_text("*\n")
    m = machine()
    m["load_start"] = os.getloadavg()[0]
    if args.tiny:
        tiny_report(m, {**p, "tiny": args.tiny}, args)
        return
    phases = args.only.split(",") if args.only else ["fold", "daily", "whatif"] + (["dask"] if args.dask else [])
    res: dict[str, dict] = {}
    for name in ["build", *phases]:
        res[name] = run_task(name, p)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res[name].items()
                 if k != "segment_task_seconds"}
        print(f"{name:7s} {res[name]['wall_seconds']:8.1f} s  {shown}", flush=True)
    m["load_end"] = os.getloadavg()[0]
    command = "python benchmarks/bench_scale.py " + " ".join(a for a in sys.argv[1:])
    text = report(m, res, p, command.strip())
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"params": p, "machine": m, "results": res}, indent=1))
    if args.write:
        write_section(Path(args.write), text, f"Scale ({p['accounts']:,} accounts)")


if __name__ == "__main__":
    main()
