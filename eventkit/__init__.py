"""eventkit: analyse a domain's history as events.

An append-only event store kept as Parquet segments under a SQLite catalog, queried with DuckDB,
and a fold library that turns events into state, snapshots, trends and what-if replays.
"""

from __future__ import annotations

from ._envelope import ANY, NO_STREAM, STREAM_EXISTS, Event
from ._errors import (
    DuplicateEventId,
    EventKitError,
    InvalidFold,
    InvalidInput,
    SchemaConflict,
    StoreError,
    WrongExpectedVersion,
)
from ._store import AppendResult, Store, open_store

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "AppendResult",
    "DuplicateEventId",
    "Event",
    "EventKitError",
    "InvalidFold",
    "InvalidInput",
    "NO_STREAM",
    "STREAM_EXISTS",
    "SchemaConflict",
    "Store",
    "StoreError",
    "WrongExpectedVersion",
    "open_store",
]
