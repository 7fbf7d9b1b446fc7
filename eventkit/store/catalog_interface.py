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

    # the hash chain (eventkit.store.integrity) and crypto-shredding (eventkit.store.shredding)
    def chain_since(self, tx: Any) -> int | None:
        """The first position the chain covers (1 for a store created with one); None before adoption."""
        ...

    def chain_head(self, tx: Any) -> tuple[int, bytes] | None:
        """The last link's (seq, hash); None before the first link."""
        ...

    def add_link(self, tx: Any, link: tuple) -> None:
        """Insert (seq, kind, first_position, last_position, recorded_at, detail, prev_hash, hash)."""
        ...

    def links(self, tx: Any, *, from_seq: int = 1, upto_seq: int | None = None, kind: str | None = None) -> list[tuple]:
        """Links in seq order, as tuples in ``add_link``'s order."""
        ...

    def last_link_seq(self, tx: Any, kind: str) -> int: ...
    def hot_rows(self, tx: Any) -> list[tuple]:
        """Every hot-log row as stored (position, stream_id, stream_type, version, event_type, event_id,
        occurred_at, recorded_at, data, metadata), in position order."""
        ...

    def segment_rows(self, tx: Any) -> list[tuple]:
        """Every segment row, retired too (see :meth:`eventkit.store.catalog.Catalog.segment_rows`)."""
        ...

    def segment_hashes(self, tx: Any, paths: list[str]) -> dict[str, str | None]: ...
    def set_segment_hash(self, tx: Any, path: str, sha256: str) -> None: ...
    def all_streams(self, tx: Any) -> list[tuple[str, str, int, int]]: ...
    def stream_segment_pairs(self, tx: Any) -> list[tuple[str, int]]: ...
    def supplied_ids(self, tx: Any) -> list[tuple[str, int]]: ...
    def personal_state(self, tx: Any) -> tuple[int, int]:
        """(personal_version, keys_erased): counters moved by every declaration and every erasure."""
        ...

    def personal_declarations(self, tx: Any) -> list[tuple[str, str, str, str]]: ...
    def declare_personal(self, tx: Any, scope: str, name: str, fields: list[str], subject: str) -> None: ...
    def subject_keys(self, tx: Any, subjects: list[str]) -> dict[str, tuple[str, bytes]]: ...
    def add_subject_keys(self, tx: Any, keys: list[tuple[str, str, bytes]]) -> None: ...
    def keys_by_id(self, tx: Any, key_ids: list[str]) -> dict[str, bytes | None]: ...
    def erase_subject(self, tx: Any, subject: str) -> tuple[int, bool]:
        """Destroy the subject's live keys so that no copy stays readable in the catalog; returns
        (keys destroyed, whether the subject ever had a key)."""
        ...
