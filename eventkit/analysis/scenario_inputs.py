"""A scenario's inputs: hypothetical events as Arrow, fixed durations for ``shift``, and edit labels.

May use :mod:`eventkit.common` and :mod:`eventkit.store` (the frame conversion of appends).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

import numpy as np
import pyarrow as pa

from eventkit.common.errors import InvalidInput


def is_pandas(frame: Any) -> bool:
    return type(frame).__module__.startswith("pandas")


def as_table(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if is_pandas(frame):
        if len(frame) == 0:
            return pa.table({c: pa.array([], pa.null()) for c in map(str, frame.columns)})
        from eventkit.store.batches import frame_to_arrow

        return frame_to_arrow(frame)
    raise InvalidInput(f"hypothetical events come as a pandas DataFrame or a pyarrow Table, not a "
                       f"{type(frame).__name__}")


UNIT_US = {"W": 7 * 86_400_000_000, "D": 86_400_000_000, "d": 86_400_000_000, "days": 86_400_000_000,
            "day": 86_400_000_000, "h": 3_600_000_000, "H": 3_600_000_000, "hours": 3_600_000_000,
            "hour": 3_600_000_000, "min": 60_000_000, "minutes": 60_000_000, "s": 1_000_000,
            "seconds": 1_000_000, "ms": 1_000, "us": 1}
DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


def duration_us(by: Any) -> int:
    """A fixed duration in microseconds: '7D', '-3h', '1D12h', '90min', a timedelta.

    Calendar units (months, years, 'MS') are refused: they have no fixed length.
    """
    bad = InvalidInput(f"by={by!r} is not a fixed duration: use e.g. '7D', '-3h', '90min', '1D12h' or a "
                       "timedelta (units W, D, h, min, s, ms, us; calendar offsets such as '1MS' or months "
                       "have no fixed length)", column="by", values=[by])
    if isinstance(by, _dt.timedelta):  # includes pandas Timedelta
        return (by.days * 86_400 + by.seconds) * 1_000_000 + by.microseconds
    if isinstance(by, np.timedelta64):
        return int(by.astype("timedelta64[us]").astype(np.int64))
    if not isinstance(by, str):
        raise bad
    text = by.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    total, pos = 0.0, 0
    for m in DURATION_PART.finditer(text):
        if m.start() != pos or m.group(2) not in UNIT_US:
            raise bad
        total += float(m.group(1)) * UNIT_US[m.group(2)]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        raise bad
    return sign * round(total)


def describe_edit(kind: str, **args: Any) -> str:
    shown = []
    for k, v in args.items():
        if v is None:
            continue
        if k == "set":
            shown += [f"{f}={e}" for f, e in v.items()]
        else:
            shown.append(f"{k}={v!r}")
    return f"{kind}({', '.join(shown)})"
