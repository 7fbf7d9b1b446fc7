"""Time `eventkit import` of a CSV: first import, the same file again (a no-op), and the file with
rows appended (only those import). Prints one line per step: seconds and peak RSS of the process.

    .venv/bin/python benchmarks/bench_import.py --rows 200000 --work /tmp/ek-bench-import
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def write_csv(path: Path, rows: int, start: int = 0, mode: str = "w") -> None:
    with open(path, mode) as f:
        if mode == "w":
            f.write("account,kind,ts,amount,channel\n")
        for i in range(start, start + rows):
            f.write(f"acct-{i % 10_000},{'Deposited' if i % 3 else 'Withdrawn'},"
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,{i % 997}.25,web\n")


def run(label: str, args: list[str]) -> None:
    """Run one command in a child process; print wall time and the child's CPU time (user + system:
    on a busy shared machine the CPU time is the steadier figure)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    extra = ["--no-progress"] if args[0] == "import" else []
    out = subprocess.run([sys.executable, "-m", "eventkit.cli", *args, *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    first = (out.stdout.strip() or out.stderr.strip()).splitlines()[0]
    print(f"{label:<24} {seconds:6.2f} s wall {cpu:6.2f} s cpu  peak RSS {after.ru_maxrss / 1024:5.0f} MB  | {first}")
    if out.returncode:
        raise SystemExit(out.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--work", default="benchmarks/.work-import")
    parser.add_argument("--allow-duplicates", action="store_true", help="import with --allow-duplicates (no derived ids)")
    a = parser.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv, store = work / "tx.csv", work / "store"
    write_csv(csv, a.rows)
    run("init", ["init", str(store)])
    common = ["--map", "account=stream_id", "--map", "kind=event_type", "--map", "ts=occurred_at",
              "--stream-type", "account", *(["--allow-duplicates"] if a.allow_duplicates else [])]
    run(f"import {a.rows:,} rows", ["import", str(store), str(csv), *common])
    run("same file again", ["import", str(store), str(csv), *common])
    write_csv(csv, a.rows // 10, start=a.rows, mode="a")
    run(f"+{a.rows // 10:,} rows appended", ["import", str(store), str(csv), *common])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
