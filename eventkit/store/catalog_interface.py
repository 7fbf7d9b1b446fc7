"""The catalog seam: everything a store keeps in its catalog, as one interface.

:class:`CatalogBackend` is what code above the catalog may call. :class:`eventkit.store.catalog.Catalog`
(``catalog.sqlite`` in the store folder) is the default implementation; :func:`eventkit.store.catalog_factory.open_catalog`
picks one from ``ek.open_store(..., catalog=...)``. Every implementation passes one contract
(``tests/test_catalog_contract.py``). Work happens in transactions: ``write()`` and ``read()`` yield a
transaction handle that callers pass back to the methods and do not look into. No module outside the
catalog implementations runs SQL on the catalog.

Rows are plain tuples:

- a hot-log row: ``(position, stream_id, stream_type, version, event_type, event_id, occurred_at,
  recorded_at, data, metadata)``, times in UTC microseconds, ``data`` and ``metadata`` JSON text or None;
- a live segment (:meth:`~CatalogBackend.live_segments`): ``(segment_id, path, stream_type, first_position,
  last_position, event_count, size_bytes, min_occurred, max_occurred, min_recorded, max_recorded)``;
- a segment to read (:meth:`~CatalogBackend.read_segments`): ``(path, first_position, last_position,
  min_recorded, stream_type)``.

May use :mod:`eventkit.common` only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

#: A saved fold state's row: (fold, fingerprint, position, max_occurred, streams, path).
FoldStateRow = tuple[str, str, int, "int | None", int, str]


@runtime_checkable
class CatalogBackend(Protocol):
    """Sequence, stream heads, supplied ids, hot log, segment list, checkpoints, fold states and settings."""

    #: Where the catalog is, for messages: a file path, or a URL without its password.
    path: Any
    #: True when this process may only read (a write raises StoreError).
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

    def size_bytes(self) -> int:
        """Bytes the catalog takes where it is kept (reported by ``store.info()``)."""
        ...

    # settings and the log's counters
    def meta_int(self, tx: Any, key: str) -> int: ...
    def set_meta(self, tx: Any, key: str, value: Any) -> None: ...
    def grace_seconds(self, tx: Any) -> float: ...

    def log_state(self, tx: Any) -> dict[str, int]:
        """``head``, ``last_recorded``, ``hot_count`` and ``fields_version`` (0 when never set).

        Inside ``write()`` the head is the last position taken: the write takes ``head + 1 ...`` and
        moves it with :meth:`set_log_state` in the same transaction, so positions have no gaps and
        their order is commit order.
        """
        ...

    def set_log_state(self, tx: Any, **values: int) -> None: ...

    def append_state(self, tx: Any, stream_ids: list[str]
                     ) -> tuple[dict[str, int], dict[str, tuple[str, int]], tuple[int, bytes] | None]:
        """What an append reads first: (:meth:`log_state`, :meth:`stream_heads` of ``stream_ids``,
        :meth:`chain_head`), in as few round trips as the backend can (one, for SQLite)."""
        ...

    def fields(self, tx: Any) -> dict[str, str]:
        """The payload schema: field name -> DuckDB type, by name."""
        ...

    def set_fields(self, tx: Any, fields: dict[str, str]) -> None:
        """Add or change payload fields' types."""
        ...

    # streams and event ids
    def stream_heads(self, tx: Any, stream_ids: list[str]) -> dict[str, tuple[str, int]]:
        """stream_id -> (stream_type, version) for those of ``stream_ids`` that exist."""
        ...

    def upsert_streams(self, tx: Any, heads: list[tuple[str, str, int, int]]) -> None:
        """Set each stream's head from ``(stream_id, stream_type, version, last_position)`` rows."""
        ...

    def stream_count(self, tx: Any) -> int: ...

    def stream_type_counts(self, tx: Any) -> list[tuple[str, int]]:
        """(stream_type, streams) pairs, most streams first."""
        ...

    def stream_ids_like(self, tx: Any, stream_id: str, *, limit: int = 20_000) -> list[str]:
        """Candidates for "did you mean": every stream id when there are at most ``limit``, else up to
        ``limit`` ids of about the shape of ``stream_id`` (length within one, same first two letters)."""
        ...

    def known_ids(self, tx: Any, event_ids: list[str]) -> dict[str, int]:
        """event_id -> position for those of ``event_ids`` recorded with :meth:`add_event_ids`."""
        ...

    def add_event_ids(self, tx: Any, pairs: Iterable[tuple[str, int]]) -> None:
        """Record caller-supplied event ids with their positions (an id already there is an error)."""
        ...

    # the hot log
    def insert_hot(self, tx: Any, rows: list[tuple]) -> None:
        """Add hot-log rows (see the module docstring for their shape)."""
        ...

    def hot_rows(self, tx: Any, *, upto: int, stream_id: str | None = None, from_position: int | None = None,
                 recorded_cut: int | None = None, limit: int | None = None) -> list[tuple]:
        """Hot-log rows at or before position ``upto``, by position, optionally of one stream, from a
        position, or recorded at or before ``recorded_cut`` (micros); at most ``limit`` (the first ones)."""
        ...

    def delete_hot(self, tx: Any) -> int:
        """Empty the hot log (its rows are in segments now); how many rows it held."""
        ...

    # the segment list
    def live_segments(self, tx: Any, *, upto: int | None = None) -> list[tuple]:
        """Live segments by first position, those starting at or before ``upto`` when given."""
        ...

    def read_segments(self, tx: Any, *, upto: int, stream_id: str | None = None, from_position: int | None = None,
                      recorded_cut: int | None = None) -> list[tuple]:
        """Live segments a read up to ``upto`` needs, by first position: only those holding ``stream_id``,
        ending at or after ``from_position``, with something recorded at or before ``recorded_cut``."""
        ...

    def add_segment(self, tx: Any, seg: Any, stream_ids: Sequence[str]) -> int:
        """Record a written segment (a :class:`~eventkit.store.segment_files.SegmentInfo`) holding
        ``stream_ids``; its new segment id."""
        ...

    def segment_streams(self, tx: Any, segment_ids: Sequence[int]) -> list[str]:
        """The distinct streams the given segments hold, sorted."""
        ...

    def segments_live(self, tx: Any, segment_ids: Sequence[int]) -> bool:
        """Whether every one of ``segment_ids`` is recorded and not retired."""
        ...

    def retire_segments(self, tx: Any, segment_ids: Sequence[int], *, at: float | None = None) -> None:
        """Take segments out of reads (they were replaced); their files stay until the grace period ends."""
        ...

    def retired_segments(self, tx: Any, *, before: float) -> list[tuple[int, str]]:
        """(segment_id, path) of segments retired before ``before`` (seconds since the epoch)."""
        ...

    def forget_segment(self, tx: Any, segment_id: int) -> None:
        """Drop a retired segment's record (its file is gone)."""
        ...

    def segment_paths(self, tx: Any) -> set[str]:
        """The path of every recorded segment, live or retired."""
        ...

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

    def drop_fold_states(self, tx: Any) -> list[str]:
        """Forget every saved state (an erasure makes them hold what was erased); their files' paths."""
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

    def hot_page(self, tx: Any, *, from_position: int = 1, to_position: int | None = None,
                 event_types: list[str] | None = None, limit: int | None = None) -> list[tuple]:
        """Hot-log rows (as :meth:`hot_stream_rows`) from ``from_position`` in position order, at most ``limit``."""
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
