"""CSV text that tells empty text from a missing value.

pandas writes both ``""`` and a missing value as an empty field, so a CSV export could not say which
a cell was. Here empty text is written quoted (``""``) and a missing value as an empty field: the
convention of PostgreSQL's ``COPY ... CSV`` and of DuckDB's CSV writer. DuckDB reads it back apart
with ``read_csv(..., allow_quoted_nulls = false)``; pandas' ``read_csv`` reads both as missing.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd


def csv_text(frame: pd.DataFrame, path: str | Path | None = None, **options: Any) -> str | None:
    """``frame.to_csv(path, index=False, **options)``, empty text written as ``""``.

    Empty texts are swapped for a marker first (a fresh random word, in no cell) and the marker,
    which the writer never quotes, for ``""`` in the written text; every other cell is written as
    pandas writes it.

    Returns:
        The text when ``path`` is None.
    """
    empty = {c: _empty_cells(frame[c]) for c in frame.columns}
    empty = {c: m for c, m in empty.items() if m is not None and m.any()}
    if not empty:
        return frame.to_csv(path, index=False, **options)
    marker = _marker(frame)
    out = frame.copy()
    for col, mask in empty.items():
        out[col] = out[col].where(~mask, marker)
    text = out.to_csv(None, index=False, **options).replace(marker, '""')
    if path is None:
        return text
    Path(path).write_text(text, encoding="utf-8", newline="")
    return None


def _empty_cells(col: pd.Series) -> Any:
    """Where ``col`` holds empty text (None when it holds no text)."""
    if isinstance(col.dtype, pd.StringDtype):  # text or missing only: compared in one call
        return col.eq("").fillna(False).to_numpy(dtype=bool)
    if col.dtype != object:
        return None
    return col.map(lambda v: isinstance(v, str) and v == "").to_numpy(dtype=bool)  # cells of any kind


def _marker(frame: pd.DataFrame) -> str:
    """A word no cell holds: 64 random bits made now, so no text written before can contain it (looking
    for it in every cell first tripled the time of a write)."""
    return "ek" + uuid.uuid4().hex[:16]
