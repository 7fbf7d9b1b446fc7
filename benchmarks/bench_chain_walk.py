"""verify on a store with one chain link per event (issue 13, item 4): N single appends, then ``verify``
(full and ``--quick``) timed in this process, and the chain walk alone in CPU time.

    .venv/bin/python benchmarks/bench_chain_walk.py --events 200000 --store benchmarks/.work/singles-200k

The store is built once (about a minute for 200,000 appends on 2 cores) and reused when ``--store`` names
an existing one. Prints the best and median of ``--repeat`` runs; on a shared machine compare runs made
side by side (e.g. against another checkout with ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import eventkit as ek  # noqa: E402


def build(path: Path, n: int) -> float:
    started = time.perf_counter()
    with ek.open_store(path) as store:
        for i in range(n):
            store.append(f"s-{i % 1000}", [ek.Event("Counted", {"n": i})], stream_type="counter")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", metavar="DIR", help="build the store here once and reuse it")
    args = ap.parse_args()
    scratch = None if args.store else tempfile.TemporaryDirectory()
    path = Path(args.store) if args.store else Path(scratch.name) / "singles"  # type: ignore[union-attr]
    if not path.exists():
        print(f"built {args.events:,} single appends in {build(path, args.events):.1f} s")
    from eventkit.store.chain_walk import replay
    from eventkit.store.verify import Problem

    with ek.open_store(path) as store:
        report = store.verify()
        assert report.ok, str(report)
        with store._catalog.read() as tx:
            rows = store._catalog.links(tx)
        timings: dict[str, list[float]] = {"verify (full) s": [], "verify --quick s": [], "chain walk CPU s": []}
        for _ in range(args.repeat):
            t = time.perf_counter()
            store.verify()
            timings["verify (full) s"].append(time.perf_counter() - t)
            t = time.perf_counter()
            store.verify(quick=True)
            timings["verify --quick s"].append(time.perf_counter() - t)
            t = time.process_time()
            replay(rows, [], Problem)
            timings["chain walk CPU s"].append(time.process_time() - t)
    print(f"{len(rows):,} links")
    for name, values in timings.items():
        print(f"{name:>18}: best {min(values):.3f}, median {statistics.median(values):.3f}")
    walk = min(timings["chain walk CPU s"]) / max(len(rows), 1) * 1e6
    print(f"chain walk: {walk:.2f} µs of CPU a link")
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
