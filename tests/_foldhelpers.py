"""Helpers for the fold tests: real stores built from a frame, a naive reference fold, generators.

``real_store(df, path, mode)`` appends a frame to a real store in any storage mode, each append
made at the frame's recorded_at (the store's clock is patched), so time cuts hit the store's own
recorded_at column. ``FrameStore`` is an in-memory stand-in kept only for what a real store
cannot hold: recorded_at values out of commit order and other histories the store refuses.

``FrameStore(df)`` honours the store contract folds code against: ``connect(known_at=None)``
returns a fresh DuckDB connection with an ``events`` relation (envelope columns, payload packed
into a typed ``data`` struct, ``metadata`` map), cut at ``known_at`` (int: position <= k;
datetime: recorded_at <= k). It pickles (the frame travels), so Python-fold workers reopen it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import uuid
from pathlib import Path
from unittest import mock
from typing import Any, Callable

import duckdb
import pandas as pd
import pyarrow as pa

import eventkit.store.maintenance as _maintenance_mod
import eventkit.store.store_appends as _store_mod  # the append path stamps recorded_at

ENVELOPE = ["position", "stream_id", "stream_type", "version", "event_type", "event_id",
            "occurred_at", "recorded_at"]
UTC = dt.timezone.utc


class FrameStore:
    """An in-memory stand-in for the event store, built from a flat events frame."""

    def __init__(self, df: pd.DataFrame, payload_types: dict[str, str] | None = None) -> None:
        self.df = df.reset_index(drop=True)
        self.payload_types = payload_types or {}

    def connect(self, known_at: Any = None) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        df = self.df
        payload = [c for c in df.columns if c not in ENVELOPE]
        con.register("_flat", pa.Table.from_pandas(df, preserve_index=False))

        def col(c: str) -> str:
            t = self.payload_types.get(c)
            return f'"{c}"::{t}' if t else f'"{c}"'

        data = ("struct_pack(" + ", ".join(f'"{c}" := {col(c)}' for c in payload) + ")"
                if payload else "NULL::STRUCT(_none INTEGER)")
        cut = ""
        if isinstance(known_at, int):
            cut = f" WHERE position <= {known_at}"
        elif known_at is not None:
            cut = f" WHERE recorded_at::TIMESTAMPTZ <= TIMESTAMPTZ '{known_at.isoformat()}'"
        con.execute(
            "CREATE TABLE events AS SELECT position::BIGINT AS position, stream_id::VARCHAR AS stream_id, "
            "stream_type::VARCHAR AS stream_type, version::BIGINT AS version, "
            "event_type::VARCHAR AS event_type, event_id::VARCHAR AS event_id, "
            "occurred_at::TIMESTAMPTZ AS occurred_at, recorded_at::TIMESTAMPTZ AS recorded_at, "
            f"{data} AS data, MAP {{'correlation_id': event_id::VARCHAR}} AS metadata FROM _flat{cut}"
        )
        con.unregister("_flat")
        return con


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def make_events(rows: list[dict[str, Any]], stream_type: str = "account") -> pd.DataFrame:
    """Build a flat frame from dicts (stream_id, event_type, occurred_at, recorded_at, payload...).

    Rows are in commit order; position and version are assigned here.
    """
    versions: dict[str, int] = {}
    out = []
    for i, r in enumerate(rows, start=1):
        r = dict(r)
        sid = r.pop("stream_id")
        versions[sid] = versions.get(sid, 0) + 1
        occurred = ts(r.pop("occurred_at"))
        recorded = ts(r.pop("recorded_at")) if "recorded_at" in r else occurred
        out.append({"position": i, "stream_id": sid, "stream_type": r.pop("stream_type", stream_type),
                    "version": versions[sid], "event_type": r.pop("event_type"),
                    "event_id": f"ev-{i}", "occurred_at": occurred, "recorded_at": recorded, **r})
    df = pd.DataFrame(out)
    # recorded_at must not decrease with position (store invariant 2).
    df["recorded_at"] = df["recorded_at"].cummax()
    return df


# -- a naive reference fold: the semantics written as plainly as possible -------------------
def reference_state(df: pd.DataFrame, spec: dict[str, Callable[[list[dict]], Any]], *,
                    as_of: pd.Timestamp | None = None, known_at: Any = None,
                    stream_type: str | None = None) -> dict[str, dict[str, Any]]:
    """stream_id -> {field: value, version, position}, by a plain loop in version order."""
    events = [{k: clean(v) for k, v in e.items()} for e in df.sort_values("position").to_dict("records")]
    if isinstance(known_at, int):
        events = [e for e in events if e["position"] <= known_at]
    elif known_at is not None:
        events = [e for e in events if e["recorded_at"] <= known_at]
    if as_of is not None:
        events = [e for e in events if e["occurred_at"] <= as_of]
    if stream_type is not None:
        events = [e for e in events if e["stream_type"] == stream_type]
    by_stream: dict[str, list[dict]] = {}
    for e in events:
        by_stream.setdefault(e["stream_id"], []).append(e)
    out = {}
    for sid, evs in sorted(by_stream.items()):
        evs.sort(key=lambda e: e["version"])
        row = {k: fn(evs) for k, fn in spec.items()}
        row["version"] = evs[-1]["version"]
        row["position"] = evs[-1]["position"]
        out[sid] = row
    return out


def clean(v: Any) -> Any:
    """Normalise a value for comparison (NaN/NaT/NA -> None, numpy scalars -> Python)."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item") and not isinstance(v, pd.Timestamp):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dt.datetime) and not isinstance(v, pd.Timestamp):
        v = pd.Timestamp(v)
    if isinstance(v, pd.Timestamp):
        return v.tz_convert("UTC") if v.tzinfo else v.tz_localize("UTC")
    return v


def frame_to_dict(frame: pd.DataFrame, key: str = "stream_id") -> dict[str, dict[str, Any]]:
    return {r[key]: {k: clean(v) for k, v in r.items() if k != key}
            for r in frame.to_dict("records")}


def assert_rows_equal(got: dict, want: dict, rel: float = 1e-9) -> None:
    assert set(got) == set(want), (sorted(got), sorted(want))
    for sid in want:
        for k, w in want[sid].items():
            g = got[sid][k]
            w = clean(w)
            if isinstance(w, float) and isinstance(g, (int, float)):
                assert math.isclose(g, w, rel_tol=rel, abs_tol=1e-9), (sid, k, g, w)
            else:
                assert g == w, (sid, k, g, w)


# -- real stores holding a frame, with the frame's recorded_at as the store's own clock ------------
@contextlib.contextmanager
def store_clock(at: pd.Timestamp):
    """Run appends as if the store's clock read ``at``: recorded_at is the store's own stamp."""
    us = (pd.Timestamp(at).tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1us")
    with mock.patch.object(_store_mod, "micros_now", lambda: us), \
            mock.patch.object(_maintenance_mod, "micros_now", lambda: us):
        yield


STORAGE_MODES = ("hot", "segments", "sealed", "compacted")


def real_store(df: pd.DataFrame, tmp_path: Any, mode: str = "hot", *, per_event: bool = False) -> Any:
    """The real store holding ``df``: one append per run of equal recorded_at (one per event with
    ``per_event``), each made at that recorded_at, so a time ``known_at`` cuts the store's own
    recorded_at column — no translation to positions.

    Modes: ``hot`` (the hot log), ``segments`` (every append is a bulk append: its own Parquet
    segment), ``sealed`` (hot-log appends sealed after each), ``compacted`` (segments merged by
    compaction at the end).
    """
    import eventkit as ek

    path = Path(tmp_path) / f"store-{mode}-{uuid.uuid4().hex[:8]}"
    if mode == "hot":
        store = ek.open_store(path, bulk_threshold=10**9, seal_threshold=10**9)
    elif mode in ("segments", "compacted"):
        store = ek.open_store(path, bulk_threshold=1, grace_seconds=0)
    elif mode == "sealed":
        store = ek.open_store(path, bulk_threshold=10**9, seal_threshold=10**9)
    else:
        raise ValueError(mode)
    flat = df.drop(columns=["position", "version"])
    key = flat.index if per_event else (flat["recorded_at"] != flat["recorded_at"].shift()).cumsum()
    for _, group in flat.groupby(key, sort=False):
        with store_clock(group["recorded_at"].iloc[0]):
            store.append_frame(group.drop(columns=["recorded_at"]))
            if mode == "sealed":
                store.seal()
    if mode == "compacted":
        store.compact(target_events=10**6)
    got = store.read_all()
    assert got["position"].tolist() == df["position"].tolist()
    assert (got["recorded_at"].reset_index(drop=True) == df["recorded_at"].reset_index(drop=True)).all()
    return store


def frame_store(df: pd.DataFrame, tmp_path: Any) -> FrameStore:
    return FrameStore(df, {"amount": "BIGINT"} if "amount" in df.columns else None)


STORE_FACTORIES = {"frame": frame_store, "store": real_store}


def known_at_for(store: Any, df: pd.DataFrame, known_at: Any) -> Any:
    """``known_at`` unchanged: real stores built by :func:`real_store` carry the frame's recorded_at."""
    return known_at
