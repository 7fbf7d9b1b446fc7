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
    SeriesTooLarge,
    StoreError,
    WrongExpectedVersion,
)
from ._fold import Fold
from ._pyfold import PyFold, on
from ._report_config import ReportConfigError
from ._reducers import (
    Reducer,
    count,
    first,
    last,
    last_event_type,
    last_non_null,
    max,
    min,
    sum,
)
from ._store import AppendResult, Store, open_store
from ._subscriptions import CheckpointConflict, Projection, Subscription
from ._upcast import Upcaster
from .trends import aggregate
from .whatif import Scenario

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "AppendResult",
    "CheckpointConflict",
    "DuplicateEventId",
    "Event",
    "EventKitError",
    "Fold",
    "InvalidFold",
    "InvalidInput",
    "NO_STREAM",
    "Projection",
    "PyFold",
    "Reducer",
    "ReportConfigError",
    "STREAM_EXISTS",
    "Scenario",
    "SchemaConflict",
    "SeriesTooLarge",
    "Store",
    "StoreError",
    "Subscription",
    "Upcaster",
    "WrongExpectedVersion",
    "aggregate",
    "count",
    "first",
    "last",
    "last_event_type",
    "last_non_null",
    "max",
    "min",
    "on",
    "open_store",
    "sum",
]
