"""Benchmarks of proving history and erasing personal data (issue 13):

1. hashing overhead on bulk appends (1M events) and on single appends (target <= 10%),
2. encrypting personal fields on bulk appends (target <= 25%): a few events with a name, every event
   with its stream owner's name, every event with a different text; and reading every such value,
3. verify of a large store, full and --quick (target < 2 s at 10M events), and the read guard's cost,
4. checkpoint (which indexes every segment file once) and prove of one event.

The overheads are A/B runs of the same code with the step replaced by a no-op (alternating, median of
``--repeat``). Usage:

    .venv/bin/python benchmarks/bench_proof.py                      # prints the results
    .venv/bin/python benchmarks/bench_proof.py --events 10000000 --write BENCHMARKS.md
    .venv/bin/python benchmarks/bench_proof.py --only encryption      # item 2 alone: its table rows
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eventkit as ek  # noqa: E402
from _machine import machine  # noqa: E402

SECTION = "## Proof and erasure"


def frame(n: int, streams: int = 10_000, seed: int = 0, personal_share: float = 0.0,
          distinct: bool = False) -> pd.DataFrame:
    """Bank events; with ``personal_share``, that share of events (an ``Opened`` type) carries the owner's
    name: the same name on each of a stream's events, or with ``distinct`` a different text on every event."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, streams, n)
    kinds = np.where(rng.random(n) < max(personal_share, 0.02), "Opened", "Deposited")
    df = pd.DataFrame({
        "stream_id": pd.array([f"acct-{i:06d}" for i in ids], dtype="str"),
        "stream_type": "account",
        "event_type": kinds,
        "amount": rng.normal(100, 30, n).round(2),
        "channel": rng.choice(["web", "branch", "app"], n),
    })
    if personal_share:
        names = [f"Person {i} note {j}" for j, i in enumerate(ids)] if distinct else [f"Person {i}" for i in ids]
        owner = np.where(kinds == "Opened", names, None)
        df["owner"] = pd.array(owner, dtype="str")
    return df


@contextmanager
def patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def no_hashing():
    """The store with segment hashing and chain links replaced by no-ops (the baseline of item 1)."""
    from eventkit.store import maintenance, segment_files, store_appends

    stack = [patched(segment_files, "file_sha256", lambda path: None),
             patched(maintenance, "record_segments", lambda *a, **k: None),
             patched(store_appends, "record_hot_append", lambda *a, **k: None)]

    @contextmanager
    def all_of():
        for s in stack:
            s.__enter__()
        try:
            yield
        finally:
            for s in reversed(stack):
                s.__exit__(None, None, None)
    return all_of()


def timed_bulk(df: pd.DataFrame, *, declare: str | None = None, cpu: list[float] | None = None) -> float:
    """Seconds of one bulk append into a new store; with ``cpu``, also appends the process's CPU seconds
    (all threads) to it: on a shared machine the CPU time varies much less with the load than the wall time."""
    with tempfile.TemporaryDirectory() as d:
        store = ek.open_store(Path(d) / "s")
        if declare:
            store.declare_personal(event_type="Opened", fields=[declare])
        t, c = time.perf_counter(), time.process_time()
        store.append_frame(df)
        took = time.perf_counter() - t
        if cpu is not None:
            cpu.append(time.process_time() - c)
        store.close()
    return took


def ab(first, second, repeat: int) -> tuple[float, float]:
    """Median seconds of two callables run alternately, in the order ABBA ABBA ...: on a shared machine whose
    load drifts during the run, neither side is always the later one."""
    a, b = [], []
    for i in range(repeat):
        if i % 2:
            b.append(second())
            a.append(first())
        else:
            a.append(first())
            b.append(second())
    return statistics.median(a), statistics.median(b)


def bench_hashing(n: int, repeat: int) -> dict:
    df = frame(n)
    timed_bulk(df.head(10_000))  # warm-up

    def plain():
        with no_hashing():
            return timed_bulk(df)
    base, hashed = ab(plain, lambda: timed_bulk(df), repeat)

    def singles(hashing: bool) -> float:
        with tempfile.TemporaryDirectory() as d:
            store = ek.open_store(Path(d) / "s")
            events = [ek.Event("Deposited", {"amount": 1.0})]
            t = time.perf_counter()
            for i in range(3_000):
                store.append(f"a-{i % 300}", events)
            took = time.perf_counter() - t
            store.close()
        return took

    def singles_plain():
        with no_hashing():
            return singles(False)
    s_base, s_hashed = ab(singles_plain, lambda: singles(True), repeat)
    return {"events": n, "bulk_plain_s": base, "bulk_hashed_s": hashed, "single_plain_s": s_base,
            "single_hashed_s": s_hashed, "singles": 3_000}


def timed_read(df: pd.DataFrame, *, declare: str | None, repeat: int) -> float:
    """Median seconds of a query that reads every owner value (decrypting each when declared personal)."""
    with tempfile.TemporaryDirectory() as d:
        store = ek.open_store(Path(d) / "s")
        if declare:
            store.declare_personal(event_type="Opened", fields=[declare])
        store.append_frame(df)
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            store.sql("SELECT count(data.owner), max(length(data.owner)) FROM events").fetchall()
            runs.append(time.perf_counter() - t)
        store.close()
    return statistics.median(runs)


ENCRYPTION_CASES = (("realistic", 0.02, False), ("every_event", 1.0, False), ("every_event_distinct", 1.0, True))


def bench_encryption(n: int, repeat: int, only: list[str] | None = None, read: bool = True) -> dict:
    out = {"events": n}
    for label, share, distinct in ENCRYPTION_CASES:
        if only and label not in only:
            continue
        df = frame(n, personal_share=share, distinct=distinct)
        cpu_plain: list[float] = []
        cpu_enc: list[float] = []
        base, enc = ab(lambda: timed_bulk(df, cpu=cpu_plain), lambda: timed_bulk(df, declare="owner", cpu=cpu_enc), repeat)
        out[label] = {"personal_events": int((df["event_type"] == "Opened").sum()), "plain_s": base, "encrypted_s": enc,
                      "plain_cpu_s": statistics.median(cpu_plain), "encrypted_cpu_s": statistics.median(cpu_enc)}
        if read:
            out[label].update(read_plain_s=timed_read(df, declare=None, repeat=repeat),
                              read_encrypted_s=timed_read(df, declare="owner", repeat=repeat))
        print(label, json.dumps(out[label]), flush=True)
    return out


def encryption_rows(e: dict) -> list[str]:
    """The "Proof and erasure" table's encryption rows."""
    pct = lambda a, b: f"{(b / a - 1) * 100:+.0f}%"  # noqa: E731
    ok = lambda good: "met" if good else "**MISSED**"  # noqa: E731
    what = {"realistic": "{personal_events:,} of {events:,} events with a personal field (a name per stream)",
            "every_event": "every event with a personal field (the stream owner's name on each)",
            "every_event_distinct": "every event with a personal field, a different text on each"}
    rows = []
    for label, text in what.items():
        c = e.get(label)
        if c is None:
            continue
        name = text.format(personal_events=c["personal_events"], events=e["events"])
        cpu = (f"; CPU {pct(c['plain_cpu_s'], c['encrypted_cpu_s'])}, {c['plain_cpu_s']:.2f} s -> "
               f"{c['encrypted_cpu_s']:.2f} s" if "plain_cpu_s" in c else "")
        rows.append(f"| encryption, bulk append, {name} | {pct(c['plain_s'], c['encrypted_s'])} "
                    f"({c['plain_s']:.2f} s -> {c['encrypted_s']:.2f} s{cpu}) | <= 25% | "
                    f"{ok(c['encrypted_s'] / c['plain_s'] - 1 <= 0.25)} |")
        if "read_plain_s" in c:
            per = (c["read_encrypted_s"] - c["read_plain_s"]) / max(c["personal_events"], 1) * 1e6
            rows.append(f"| reading every value of that field (`count`, `max(length)` over `events`) | "
                        f"{c['read_plain_s']:.2f} s -> {c['read_encrypted_s']:.2f} s ({per:.1f} µs per value) "
                        "| (reported) | |")
    return rows


def build_store(path: Path, n: int) -> float:
    t = time.perf_counter()
    store = ek.open_store(path)
    chunk = 1_000_000
    for i in range(0, n, chunk):
        store.append_frame(frame(min(chunk, n - i), streams=100_000, seed=i))
    store.compact()
    store.close()
    return time.perf_counter() - t


def in_fresh_process(path: Path, code: str) -> dict:
    """Run ``code`` (defines ``result``) in a new interpreter: no warm caches of this one."""
    script = (f"import json, time, eventkit as ek\nstore = ek.open_store({str(path)!r}, create=False)\n{code}\n"
              "print('RESULT ' + json.dumps(result))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    # DuckDB's progress bar may share stdout: the result is the line marked RESULT
    return json.loads(done.stdout.rpartition("RESULT ")[2].splitlines()[0])


def bench_verify(n: int, repeat: int, workdir: Path, keep: Path | None = None) -> dict:
    """Items 3-4. ``keep``: build the store there once and reuse it in later runs (checkpoint and prove
    run on a copy, so that each run measures a first checkpoint)."""
    path = keep if keep is not None else workdir / "big"
    built = path / "built.json"
    if keep is not None and built.exists() and json.loads(built.read_text())["events"] == n:
        build = json.loads(built.read_text())["build_s"]
        print(f"reusing the {n:,}-event store at {path}", flush=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
        build = build_store(path, n)
        built.write_text(json.dumps({"events": n, "build_s": build}))
    size = sum(p.stat().st_size for p in path.rglob("*.parquet"))
    print(f"built {n:,} events in {build:.1f} s", flush=True)
    cpu = "import os, resource\ncpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])\n"
    full = in_fresh_process(path, cpu + f"""
runs, cpus = [], []
for _ in range({repeat}):
    c = cpu(); t = time.perf_counter(); r = store.verify(); runs.append(time.perf_counter() - t); cpus.append(cpu() - c)
q = []
for _ in range({repeat}):
    t = time.perf_counter(); store.verify(quick=True); q.append(time.perf_counter() - t)
result = {{"full": sorted(runs)[len(runs) // 2], "full_runs": runs, "full_cpu": sorted(cpus)[len(cpus) // 2],
          "quick": sorted(q)[len(q) // 2], "load": os.getloadavg()[0], "files": r.files, "scanned": r.events_scanned}}""")
    print(json.dumps(full), flush=True)
    guard = in_fresh_process(path, """
t = time.perf_counter(); store.read_stream("acct-000042"); first = time.perf_counter() - t
t = time.perf_counter(); store.read_stream("acct-000043"); second = time.perf_counter() - t
t = time.perf_counter(); store.sql("SELECT count(*) FROM events").fetchall(); scan_first = time.perf_counter() - t
t = time.perf_counter(); store.sql("SELECT count(*) FROM events").fetchall(); scan_second = time.perf_counter() - t
result = {"read_stream_first": first, "read_stream_second": second, "count_first": scan_first, "count_second": scan_second}""")
    print(json.dumps(guard), flush=True)
    key = workdir / "key"
    if not key.exists():
        from eventkit.store.signed_checkpoints import generate_key
        generate_key(key)
    copy = workdir / "checkpointed"  # a checkpoint adds index links: measure the first one on a copy
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(path, copy)
    prove = in_fresh_process(copy, cpu + f"""
c = cpu(); t = time.perf_counter(); cp = store.sign_checkpoint({str(key)!r}); first_cp = time.perf_counter() - t
first_cp_cpu = cpu() - c
t = time.perf_counter(); store.sign_checkpoint({str(key)!r}); second_cp = time.perf_counter() - t
proving = []
for position in (store.head // 2, 1, store.head - 12345)[:max(1, {repeat})]:
    t = time.perf_counter(); p = store.prove(position, checkpoint=cp); proving.append(time.perf_counter() - t)
t = time.perf_counter(); ek.check_proof(p, checkpoint=cp); checking = time.perf_counter() - t
result = {{"load_checkpoint": os.getloadavg()[0], "checkpoint_first": first_cp, "checkpoint_first_cpu": first_cp_cpu, "checkpoint_again": second_cp,
          "prove": sorted(proving)[len(proving) // 2], "prove_runs": proving, "check": checking,
          "proof_bytes": len(json.dumps(p))}}""")
    shutil.rmtree(copy, ignore_errors=True)
    return {"events": n, "build_s": build, "segment_mb": size / 1e6, **full, **guard, **prove}


def report(m: dict, h: dict, e: dict, v: dict, command: str) -> str:
    pct = lambda a, b: f"{(b / a - 1) * 100:+.1f}%"  # noqa: E731
    ok = lambda good: "met" if good else "**MISSED**"  # noqa: E731
    hash_bulk = h["bulk_hashed_s"] / h["bulk_plain_s"] - 1
    lines = [
        SECTION, "",
        f"Run {m['date']} on {m['cpu']}, {m['nproc']} cores, {m['memory']}; Python {m['python']}, DuckDB {m['duckdb']}, "
        f"pyarrow {m['pyarrow']}. Load average when it started: {m['load']:.2f} "
        f"({'a quiet machine' if m['load'] < 1.5 else 'the machine was shared: figures are of a busy machine'}).", "",
        f"Command: `{command}`", "",
        "| measure | result | target | |", "|---|---:|---:|---|",
        f"| hashing overhead, bulk append of {h['events']:,} events | {pct(h['bulk_plain_s'], h['bulk_hashed_s'])} "
        f"({h['bulk_plain_s']:.2f} s -> {h['bulk_hashed_s']:.2f} s) | <= 10% | {ok(hash_bulk <= 0.10)} |",
        f"| hashing overhead, {h['singles']:,} single appends | {pct(h['single_plain_s'], h['single_hashed_s'])} "
        f"({h['single_plain_s']:.2f} s -> {h['single_hashed_s']:.2f} s) | (reported) | |",
        *encryption_rows(e),
        f"| verify (full) of a {v['events']:,}-event store (load {v['load']:.1f}) | {v['full']:.2f} s "
        f"({v['full_cpu']:.2f} s CPU) | < 2 s at 10M | "
        f"{ok(v['full'] < 2.0) if v['events'] >= 10_000_000 else '(at ' + format(v['events'], ',') + ' events)'} |",
        f"| verify --quick | {v['quick'] * 1000:.0f} ms | | |",
        f"| read guard: first read_stream in a fresh process (hashes the stream's files) | {v['read_stream_first'] * 1000:.0f} ms "
        f"(next: {v['read_stream_second'] * 1000:.0f} ms) | | |",
        f"| first count(*) over every file in a fresh process (hashes the rest) | {v['count_first'] * 1000:.0f} ms "
        f"(next: {v['count_second'] * 1000:.0f} ms) | | |",
        f"| checkpoint, first (indexes every file; load {v['load_checkpoint']:.1f}) / again | {v['checkpoint_first']:.1f} s "
        f"({v['checkpoint_first_cpu']:.1f} s CPU) / {v['checkpoint_again'] * 1000:.0f} ms | | |",
        f"| prove one event (re-hashes its chunk of 65,536 events) / check the proof | {v['prove']:.2f} s / "
        f"{v['check'] * 1000:.1f} ms ({v['proof_bytes']:,} bytes) | | |",
        "",
        f"The store for verify: {v['events']:,} events in 1M-event `append_frame` chunks over 100,000 streams, then "
        f"`compact()` ({v['build_s']:.1f} s to build, {v['files']} live segment files, {v['segment_mb']:.0f} MB of Parquet). "
        "Verify and the guard ran in a fresh process each (cold caches of eventkit and DuckDB, warm OS page cache).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the store that verify checks")
    ap.add_argument("--bulk-events", type=int, default=1_000_000, help="events per bulk append (items 1-2)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", metavar="PATH", help=f"rewrite the '{SECTION}' section of this Markdown file")
    ap.add_argument("--store", metavar="DIR", help="build the verify store here once and reuse it (e.g. "
                    "benchmarks/.work-verify/big, gitignored)")
    ap.add_argument("--reuse", metavar="LOG", help="take items 1-2 from the first two JSON lines of an earlier run's output")
    ap.add_argument("--only", choices=["encryption"], help="run only this part and print its table rows")
    ap.add_argument("--cases", help="with --only encryption: these cases only, comma-separated (of "
                    + ", ".join(c[0] for c in ENCRYPTION_CASES) + ")")
    ap.add_argument("--no-read", action="store_true", help="with --only encryption: skip reading the values back")
    args = ap.parse_args()
    m = machine()
    if args.only == "encryption":
        e = bench_encryption(args.bulk_events, args.repeat, args.cases.split(",") if args.cases else None,
                             read=not args.no_read)
        print(json.dumps(e))
        print(f"load average at start: {m['load']:.2f}")
        print("\n".join(encryption_rows(e)))
        return
    if args.reuse:
        h, e = [json.loads(line) for line in Path(args.reuse).read_text().splitlines()[:2]]
    else:
        h = bench_hashing(args.bulk_events, args.repeat)
        print(json.dumps(h))
        e = bench_encryption(args.bulk_events, args.repeat)
        print(json.dumps(e))
    with tempfile.TemporaryDirectory() as d:
        v = bench_verify(args.events, args.repeat, Path(d), Path(args.store) if args.store else None)
    print(json.dumps(v))
    command = " ".join(["python benchmarks/bench_proof.py", *sys.argv[1:]])
    text = report(m, h, e, v, command)
    print(text)
    if args.write:
        path = Path(args.write)
        doc = path.read_text()
        start = doc.find(SECTION)
        if start >= 0:
            end = doc.find("\n## ", start + len(SECTION))
            doc = doc[:start] + text + (doc[end + 1:] if end >= 0 else "")
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        path.write_text(doc)


if __name__ == "__main__":
    main()
