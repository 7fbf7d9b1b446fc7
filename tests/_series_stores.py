"""Real stores holding a flat events frame, in each way the store keeps events.

The series tests run against these (not only the in-memory ``FrameStore`` double): the hot log,
Parquet segments written by bulk appends, hot-log appends sealed into segments, and segments
compacted into one — each filled by several appends, in the frame's (commit) order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import eventkit as ek
from _foldhelpers import FrameStore

REAL_MODES = ("hot", "segments", "sealed", "compacted")
MODES = ("frame",) + REAL_MODES


def store_of(df: pd.DataFrame, mode: str, path: Path, *, appends: int = 3,
             payload_types: dict[str, str] | None = None) -> Any:
    """A store holding ``df`` (positions as in the frame), built in ``appends`` appends."""
    if mode == "frame":
        return FrameStore(df, payload_types)
    bulk = 1 if mode in ("segments", "compacted") else 10**9
    store = ek.open_store(path, bulk_threshold=bulk)
    flat = df.drop(columns=["position", "version", "recorded_at"])
    n = len(flat)
    cuts = sorted({0, n, *[(n * i) // appends for i in range(1, appends)]})
    for a, b in zip(cuts, cuts[1:]):
        chunk = flat.iloc[a:b]
        # A payload column with no value in this chunk is left out (the store's union of fields
        # gives it NULL), so an all-NULL chunk never fixes a field's type.
        chunk = chunk.drop(columns=[c for c in chunk.columns if chunk[c].isna().all()])
        store.append_frame(chunk)
        if mode == "sealed":
            store.seal()
    if mode == "compacted":
        store.compact()
    return store


def position_cut(df: pd.DataFrame, store: Any, known_at: Any) -> Any:
    """``known_at`` as ``store`` understands it: real stores stamp their own recorded_at, so a
    time becomes the last position the frame recorded by then."""
    if known_at is None or isinstance(known_at, int) or isinstance(store, FrameStore):
        return known_at
    k = pd.Timestamp(known_at)
    k = k.tz_localize("UTC") if k.tzinfo is None else k
    seen = df["recorded_at"] <= k
    return int(df.loc[seen, "position"].max()) if seen.any() else 0
