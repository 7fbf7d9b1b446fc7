"""eventkit: analyse a domain's history as events.

An append-only event store kept as Parquet segments under a SQLite catalog, queried with DuckDB,
and a fold library that turns events into state, snapshots, trends and what-if replays.
"""

from __future__ import annotations

from eventkit.store.envelope import ANY, NO_STREAM, STREAM_EXISTS, Event
from eventkit.common.errors import (
    DuplicateEventId,
    EventKitError,
    EventKitWarning,
    InvalidFold,
    InvalidInput,
    SchemaConflict,
    SealDeferredWarning,
    SeriesTooLarge,
    StoreError,
    VersionTaken,
    WrongExpectedVersion,
)
from eventkit.fold.declarative import Fold
from eventkit.fold.python_fold import PyFold, on
from eventkit.report.config import ReportConfigError
from eventkit.fold.reducers import (
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
from eventkit.store.event_store import AppendResult, Store, open_store
from eventkit.store.point_reads import RecordedEvent
from eventkit.store.projections import Projection
from eventkit.store.integrity import TamperedStore
from eventkit.store.proofs import check_proof
from eventkit.store.subscriptions import Subscription
from eventkit.store.tracking import CheckpointConflict
from eventkit.store.upcasting import Upcaster
from eventkit.analysis.trends import aggregate
from eventkit.analysis.whatif import Scenario

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "AppendResult",
    "CheckpointConflict",
    "DuplicateEventId",
    "Event",
    "EventKitError",
    "EventKitWarning",
    "Fold",
    "InvalidFold",
    "InvalidInput",
    "NO_STREAM",
    "Projection",
    "PyFold",
    "RecordedEvent",
    "Reducer",
    "ReportConfigError",
    "STREAM_EXISTS",
    "Scenario",
    "SchemaConflict",
    "SealDeferredWarning",
    "SeriesTooLarge",
    "Store",
    "StoreError",
    "Subscription",
    "TamperedStore",
    "Upcaster",
    "VersionTaken",
    "WrongExpectedVersion",
    "aggregate",
    "check_proof",
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
