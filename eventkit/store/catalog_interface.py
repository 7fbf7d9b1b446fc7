"""The catalog seam: everything a store keeps in its catalog, as one interface.

:class:`CatalogBackend` is what code above the catalog may call; :class:`eventkit.store.catalog.Catalog`
(``catalog.sqlite``) is the one implementation today. A PostgreSQL catalog is meant to be a second one,
passing the same contract (``tests/test_catalog_contract.py``). Work happens in transactions: ``write()``
and ``read()`` yield a transaction handle that callers pass back to the methods and do not look into.

Not behind the seam yet (they run SQLite SQL on the handle themselves): the append hot path
(``event_store``: hot-log rows, supplied ids, field types), bulk append, seal and compaction
(``maintenance``), the segment list writes and the manifest (``segment_files``), the hot-log and
segment reads of a snapshot (``read_snapshot``) and re-send detection (``resend``).

May use :mod:`eventkit.common` only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: A saved fold state's row: (fold, fingerprint, position, max_occurred, streams, path).
FoldStateRow = tuple[str, str, int, "int | None", int, str]


@runtime_checkable
class CatalogBackend(Protocol):
    """Sequence, stream heads, supplied ids, hot log, segment list, checkpoints, fold states and settings."""

    path: Path
    read_only: bool

    @property
    def id_prefix(self) -> str:
        """This store's prefix for generated event ids (fixed when the store is created)."""
        ...

    def write(self) -> AbstractContextManager[Any]:
        """One write transaction: serialised with every other writer, committed or rolled back whole."""
        ...

    def read(self) -> AbstractContextManager[Any]:
        """One read transaction: every call inside sees the same committed state."""
        ...

    def close(self) -> None: ...

    # settings and the log's counters
    def meta_int(self, tx: Any, key: str) -> int: ...
    def set_meta(self, tx: Any, key: str, value: Any) -> None: ...
    def grace_seconds(self, tx: Any) -> float: ...
    def log_state(self, tx: Any) -> dict[str, int]: ...
    def set_log_state(self, tx: Any, **values: int) -> None: ...
    def fields(self, tx: Any) -> dict[str, str]: ...

    # streams, ids, segments
    def stream_heads(self, tx: Any, stream_ids: list[str]) -> dict[str, tuple[str, int]]: ...
    def upsert_streams(self, tx: Any, heads: list[tuple[str, str, int, int]]) -> None: ...
    def known_ids(self, tx: Any, event_ids: list[str]) -> dict[str, int]: ...
    def live_segments(self, tx: Any, *, upto: int | None = None) -> list[tuple]: ...

    # consumers' checkpoints
    def checkpoint(self, tx: Any, name: str) -> int:
        """The position consumer ``name`` has dealt with; 0 when it has none."""
        ...

    def set_checkpoint(self, tx: Any, name: str, position: int) -> None: ...

    def checkpoints(self, tx: Any) -> list[tuple[str, int, float]]:
        """Every checkpoint as (name, position, updated_at seconds), by name."""
        ...

    # saved fold states
    def save_fold_state(self, tx: Any, *, fold: str, fingerprint: str, position: int, max_occurred: int | None,
                        streams: int, path: str) -> str | None:
        """Record a saved state, replacing one of the same fingerprint and position; the replaced file's path."""
        ...

    def newest_fold_state(self, tx: Any, fingerprint: str, *, upto: int, as_of: int | None) -> FoldStateRow | None:
        """The newest state of ``fingerprint`` at or before ``upto`` holding nothing that occurred after
        ``as_of`` (micros; None: no valid-time cut)."""
        ...

    def fold_states(self, tx: Any) -> list[tuple[str, str, int, int, float, str]]:
        """Every saved state as (fold, fingerprint, position, streams, created_at, path), by fold, position."""
        ...

    # operational reads, tracking and group commit (see point_reads, tracking, group_commit)
    def savepoint(self, tx: Any, action: str, name: str) -> None:
        """``SAVEPOINT``, ``RELEASE`` or ``ROLLBACK TO`` savepoint ``name`` inside a write: one append of a
        group commit is undone alone."""
        ...

    def stored_checkpoint(self, tx: Any, name: str) -> int | None:
        """Consumer ``name``'s position, or None when it has never stored one."""
        ...

    def stream_sealed(self, tx: Any, stream_id: str) -> bool:
        """Whether a live segment holds events of ``stream_id`` (else all of them are in the hot log)."""
        ...

    def stream_segment_files(self, tx: Any, stream_id: str) -> list[tuple[str, int, int]]:
        """The live segments holding events of ``stream_id``: (path, first_position, last_position), in order."""
        ...

    def sealed_upto(self, tx: Any) -> int:
        """The last position a live segment holds (0: none): every later event is in the hot log."""
        ...

    def hot_stream_rows(self, tx: Any, stream_id: str, *, from_version: int | None = None,
                        to_version: int | None = None, backwards: bool = False,
                        limit: int | None = None) -> list[tuple]:
        """A stream's hot-log rows in version order: (position, stream_id, stream_type, version, event_type,
        event_id, occurred_at micros, recorded_at micros, data JSON, metadata JSON)."""
        ...

    def hot_rows(self, tx: Any, *, from_position: int = 1, to_position: int | None = None,
                 event_types: list[str] | None = None, limit: int | None = None) -> list[tuple]:
        """Hot-log rows (as :meth:`hot_stream_rows`) from ``from_position`` in position order, at most ``limit``."""
        ...
