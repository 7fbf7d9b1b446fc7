"""A reader process for the multi-process test: reads while writers write, checking every read.

Usage: python _reader.py STORE STOP_FILE

Until STOP_FILE exists it takes snapshot after snapshot (``store.connect()``: one catalog read
transaction) and checks, on each: positions are 1..n without gaps, the count never falls below
an earlier read's, and every append is whole — each event carries ``batch`` and ``size`` (the
append's event count), so a batch seen with fewer events than its size is half an append. Every
tenth read goes through ``read_all`` instead, and every fiftieth reopens the store. Exits 1 with a
message on the first violation; prints ``reads <n> distinct_counts <k> expired <e>`` at the end.
"""

from __future__ import annotations

import os
import sys
import time

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import eventkit as ek  # noqa: E402


def fail(message: str) -> None:
    print("VIOLATION", message, flush=True)
    sys.exit(1)


def main() -> None:
    store_path, stop = sys.argv[1], sys.argv[2]
    store = ek.open_store(store_path, catalog=os.environ.get("EVENTKIT_TEST_CATALOG") or None)
    reads = expired = last = 0
    counts = set()
    while not os.path.exists(stop):
        reads += 1
        try:
            if reads % 10 == 0:
                table = store.read_all(output="arrow")
                if table.num_rows == 0:  # no writer has committed yet: no payload fields, no columns for them
                    n, top, partial = 0, 0, []
                else:
                    df = table.select(["position", "batch", "size"]).to_pandas()
                    n, top = len(df), int(df["position"].max())
                    sizes = df.groupby("batch").agg(n=("position", "size"), size=("size", "first"))
                    partial = sizes[sizes.n != sizes["size"]].index.tolist()
            else:
                con = store.connect()
                try:
                    n, top = con.execute("SELECT count(*), coalesce(max(position), 0) FROM events").fetchall()[0]
                    partial = [r[0] for r in con.execute(
                        "SELECT data.batch FROM events GROUP BY 1 HAVING count(*) <> any_value(data.size)").fetchall()]
                finally:
                    con.close()
        except (duckdb.IOException, ek.EventKitError) as e:
            # A writer's compaction may remove a replaced file once its (short) grace period is over.
            if ("No such file" in str(e) or "No files found" in str(e) or "not found" in str(e).lower()
                    or "snapshot has expired" in str(e)):
                expired += 1
                continue
            raise
        if n != top:
            fail(f"read {reads}: {n} events but the highest position is {top} (a gap or a double)")
        if n < last:
            fail(f"read {reads}: the count fell from {last} to {n}")
        if partial:
            fail(f"read {reads}: half-visible appends {partial[:3]}")
        last = n
        counts.add(n)
        if reads % 50 == 0:
            store.close()
            store = ek.open_store(store_path, catalog=os.environ.get("EVENTKIT_TEST_CATALOG") or None)
        time.sleep(0.01)
    store.close()
    print(f"reads {reads} distinct_counts {len(counts)} expired {expired}", flush=True)


if __name__ == "__main__":
    main()
