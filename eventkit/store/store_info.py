"""Facts about a store (``store.info()``): events, streams, types, time range, size, damaged files.

May use :mod:`eventkit.common`, :mod:`.catalog_interface` and :mod:`.read_snapshot`; the store is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from eventkit.common.printable import printable
from eventkit.common.errors import StoreError
from eventkit.store.read_snapshot import file_problems, read_snapshot

Store = Any  # the Store facade passes itself in (it sits above this module)


@dataclass
class StoreInfo:
    """Facts about a store; ``str()`` gives a readable summary."""

    path: str
    events: int
    streams: int
    segments: int
    hot_events: int
    size_bytes: int
    first_occurred: Any
    last_occurred: Any
    first_recorded: Any
    last_recorded: Any
    event_types: pd.DataFrame
    stream_types: pd.DataFrame
    fields: dict[str, str]
    damaged: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [
            f"store        {self.path}",
            f"events       {self.events:,} in {self.streams:,} streams",
            f"storage      {self.segments:,} segments + {self.hot_events:,} hot events, {self.size_bytes / 1e6:,.1f} MB",
            f"occurred     {self.first_occurred} .. {self.last_occurred}",
            f"recorded     {self.first_recorded} .. {self.last_recorded}",
            "stream types " + ", ".join(f"{printable(r.stream_type)} ({r.streams:,})"
                                        for r in self.stream_types.itertuples()),
            "event types",
        ]
        # An event type may hold a newline or an ESC sequence: shown escaped, never as a line of its own.
        lines += [f"  {printable(r.event_type):<24} {r.events:>12,}" for r in self.event_types.itertuples()]
        lines.append("fields       " + ", ".join(f"{k} {v}" for k, v in self.fields.items()))
        if self.damaged:
            lines.append(f"DAMAGED      {len(self.damaged):,} segment file(s) cannot be read; the event and time "
                         "figures above leave their events out:")
            lines += [f"  {f}: {why}" for f, why in self.damaged.items()]
        return "\n".join(lines)


def info(store: Store) -> StoreInfo:
    catalog = store._catalog
    with catalog.read() as conn:
        snap = read_snapshot(catalog, conn, store.files)
        modified = store._file_guard.check_files(catalog, conn, store.files, snap.segments, raise_first=False)
        streams = catalog.stream_count(conn)
        stypes = pd.DataFrame(catalog.stream_type_counts(conn), columns=["stream_type", "streams"])
        live = catalog.live_segments(conn)
    seg_bytes, nseg = sum(s[6] for s in live), len(live)
    damaged: dict[str, str] = dict(modified)  # described below without them
    snap.segments = [p for p in snap.segments if store.files.url(p) not in damaged]
    try:
        et, times = event_figures(snap)
    except (StoreError, duckdb.Error):
        # Describe the rest of the store: leave the unreadable files out and name them.
        unreadable = file_problems(store.files, snap.segments)
        if not unreadable:
            raise
        damaged.update(unreadable)
        snap.segments = [p for p in snap.segments if store.files.url(p) not in damaged]
        et, times = event_figures(snap)
    catalog_bytes = catalog.size_bytes()
    return StoreInfo(
        path=str(store.path), events=snap.high_water, streams=streams, segments=nseg, hot_events=snap.hot.num_rows,
        size_bytes=seg_bytes + catalog_bytes, first_occurred=times[0], last_occurred=times[1],
        first_recorded=times[2], last_recorded=times[3], event_types=et, stream_types=stypes, fields=snap.fields,
        damaged=damaged,
    )


def event_figures(snap: Any) -> tuple[pd.DataFrame, tuple]:
    con = snap.connect()
    try:
        et = con.execute(
            "SELECT event_type, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC, 1").df()
        times = con.execute(
            "SELECT min(occurred_at), max(occurred_at), min(recorded_at), max(recorded_at) FROM events").fetchall()[0]
    finally:
        con.close()
    return et, times
