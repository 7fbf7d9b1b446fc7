"""The full verify's look for personal values stored in plain text (eventkit/store/verify_personal.py):
what it adds to ``store.verify()`` and what it would add to ``--quick``.

A store of N bank events (1M-event ``append_frame`` chunks over 100,000 streams) with ``owner`` declared
personal on ``Opened`` events, a SHARE of the events being ``Opened``. Prints the median of 5 runs of the
full verify with and without the look, the look alone over the segment files, and ``verify(quick=True)``.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_verify_personal.py 2000000 0.1
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eventkit as ek  # noqa: E402
import eventkit.store.verify as V  # noqa: E402
from bench_proof import frame  # noqa: E402
from eventkit.store.verify_personal import check_plain_personal  # noqa: E402


def main(n: int, share: float) -> None:
    folder = tempfile.mkdtemp()
    try:
        store = ek.open_store(folder + "/s")
        store.declare_personal(event_type="Opened", fields=["owner"])
        for i in range(0, n, 1_000_000):
            store.append_frame(frame(min(1_000_000, n - i), streams=100_000, seed=i, personal_share=share))

        def run(look, quick=False) -> float:
            V.check_plain_personal = look
            t = time.perf_counter()
            store.verify(quick=quick)
            return time.perf_counter() - t

        on, off = [], []
        for _ in range(5):
            on.append(run(check_plain_personal))
            off.append(run(lambda *a: []))
        with store._catalog.read() as tx:
            files = [store.files.url(s[1]) for s in store._catalog.segment_rows(tx) if s[11] is None]
            rows, fields = store._catalog.personal_declarations(tx), store._catalog.fields(tx)
        alone = []
        for _ in range(5):
            t = time.perf_counter()
            check_plain_personal(files, [], rows, fields)
            alone.append(time.perf_counter() - t)
        quick = [run(check_plain_personal, True) for _ in range(5)]
        print(f"{n:,} events, {share:.0%} with a personal value: full verify {statistics.median(on):.3f} s "
              f"(without the look {statistics.median(off):.3f} s); the look alone {statistics.median(alone):.3f} s; "
              f"--quick {statistics.median(quick) * 1000:.1f} ms")
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000, float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
