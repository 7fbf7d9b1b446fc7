"""What the decimal check (eventkit/store/decimals.py) costs: a decimal(38,18) column of N rows.

Prints the median of 5 runs of ``float_column`` (the vectorised check, which also gives the floats
stored), of Arrow's plain decimal -> float64 cast it replaces, and of ``arrow_batch_from_frame`` (all of
append_frame's validation) on a table of that column plus stream_id and event_type.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_decimals.py 1000000
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from eventkit.store.batches import arrow_batch_from_frame  # noqa: E402
from eventkit.store.decimals import float_column  # noqa: E402


def median_seconds(run, times: int = 5) -> float:
    out = []
    for _ in range(times):
        t = time.perf_counter()
        run()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(n: int) -> None:
    cents = np.random.default_rng(0).integers(-10**12, 10**12, n)
    # Amounts in cents (exact as floats), as a decimal(38,18) column: every value passes the check.
    col = pa.array([f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]).cast(pa.decimal128(38, 18))
    table = pa.table({"stream_id": pa.array(["s"] * n), "event_type": pa.array(["X"] * n), "amount": col})
    print(f"{n:,} rows of decimal(38,18)")
    print(f"  float_column (check + nearest floats): {median_seconds(lambda: float_column('amount', col)):.3f} s")
    print(f"  plain cast to float64 (before):        {median_seconds(lambda: col.cast(pa.float64())):.3f} s")
    print(f"  arrow_batch_from_frame (all checks):   {median_seconds(lambda: arrow_batch_from_frame(table)):.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
