"""Comparing two states field by field: what changed between a baseline and a scenario.

Pure pandas over two frames with a key column, so any pair of fold results can be compared (a
what-if scenario and its baseline, two ``known_at`` cuts, two stores).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd


def state_diff(base: pd.DataFrame, scen: pd.DataFrame, *, key: str = "stream_id",
               ignore: Iterable[str] = ()) -> pd.DataFrame:
    """The rows whose values differ between ``base`` and ``scen``, side by side.

    Args:
        base: The baseline frame (one row per ``key``).
        scen: The other frame.
        key: The column that pairs rows.
        ignore: Columns not compared (e.g. ``version``, ``position``).

    Returns:
        ``key``, then for each compared column ``f``: ``f_baseline``, ``f_scenario`` and, for
        numeric columns, ``f_diff`` (scenario minus baseline). Only differing keys (a key on one
        side only differs); floats equal within 1e-9 relative count as equal. Sorted by key.

    Example:
        >>> a = pd.DataFrame({"stream_id": ["x", "y"], "n": [1, 2]})
        >>> state_diff(a, a.assign(n=[1, 5]))["n_diff"].tolist()
        [3]
    """
    skip = {key, *ignore}
    # Integer columns stay integers through the outer merge (a stream on one side only would
    # make them float64 and lose every integer past 2**53).
    base, scen = _nullable_ints(base), _nullable_ints(scen)
    names = [c for c in base.columns if c not in skip]
    names += [c for c in scen.columns if c not in skip and c not in names]
    both = base[[key, *[c for c in names if c in base]]].merge(
        scen[[key, *[c for c in names if c in scen]]], on=key, how="outer",
        suffixes=("_baseline", "_scenario"), indicator=True)
    out = pd.DataFrame({key: both[key]})
    differs = np.array(both["_merge"] != "both", dtype=bool)
    missing = pd.Series([None] * len(both), index=both.index, dtype=object)
    for f in names:
        b = both.get(f + "_baseline", both[f] if f in base and f not in scen else missing)
        s = both.get(f + "_scenario", both[f] if f in scen and f not in base else missing)
        out[f + "_baseline"], out[f + "_scenario"] = b.to_numpy(), s.to_numpy()
        if _numeric(b) and _numeric(s):
            if _integer(b) and _integer(s):
                out[f + "_diff"] = (s.astype("Int64") - b.astype("Int64")).to_numpy()
            else:
                out[f + "_diff"] = _floats(s) - _floats(b)
        differs |= ~_same(b, s)
    return out[differs].sort_values(key).reset_index(drop=True)


def _nullable_ints(frame: pd.DataFrame) -> pd.DataFrame:
    ints = {c: "Int64" for c in frame.columns if frame[c].dtype.kind == "i"}
    return frame.astype(ints) if ints else frame


def _integer(s: Any) -> bool:
    return s.dtype.kind in "iu"


def _numeric(s: Any) -> bool:
    return s.dtype.kind in "iuf" or (str(s.dtype).startswith(("Int", "UInt", "Float")))


def _floats(s: Any) -> np.ndarray:
    return s.to_numpy(dtype="float64", na_value=np.nan)


def _same(a: Any, b: Any) -> np.ndarray:
    """Element-wise equality with nulls equal to nulls and floats equal within 1e-9 relative."""
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    out = na & nb
    both = ~na & ~nb
    if _integer(a) and _integer(b):  # counts and integer amounts (cents) differ when they differ
        xs, ys = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
        return out | np.array([m and bool(u == v) for u, v, m in zip(xs, ys, both)], dtype=bool)
    if _numeric(a) and _numeric(b):
        x, y = _floats(a), _floats(b)
        with np.errstate(invalid="ignore"):
            close = np.isclose(x, y, rtol=1e-9, atol=1e-12)
        return out | (both & close)
    eq = np.array([bool(u == v) if m else False for u, v, m in zip(a.tolist(), b.tolist(), both)], dtype=bool)
    return out | eq
