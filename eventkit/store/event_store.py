"""The event store, ``ek.Store``: append-only events in a catalog over immutable Parquet segments.

The store talks to its catalog through :class:`~eventkit.store.catalog_interface.CatalogBackend`
(picked by :func:`~eventkit.store.catalog_factory.open_catalog`) and to its files through
:class:`~eventkit.store.file_store.FileStore`. This module holds the store's making, its settings
and facts, and the doors to maintenance, consumers and upcasting; the append path is
:mod:`.store_appends` and the read path :mod:`.store_reads` (the two base classes of :class:`Store`).
Everything above it reads through :meth:`Store.sql`, :meth:`Store.connect` and the ``read_*`` methods.

May use every module of the store layer below it and :mod:`eventkit.common`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal, Sequence

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store import maintenance as _maintenance
from eventkit.store.catalog_factory import open_catalog
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.commit_signal import CommitSignal
from eventkit.store.envelope import generated_position
from eventkit.store.file_store import FileStore
from eventkit.store.object_store import choose_file_store
from eventkit.store.read_snapshot import SharedDatabase
from eventkit.store.chain_links import adopt_existing
from eventkit.store.integrity import FileGuard
from eventkit.store.shredding import Declarations, KeyRing
from eventkit.store.store_appends import Appending
from eventkit.store.store_proofs import Proving
from eventkit.store.store_reads import Reading, parse_known_at, seconds, whole_number  # noqa: F401 (re-exported)
from eventkit.store.stream_heads import AppendResult  # noqa: F401 (re-exported: ek.AppendResult)
from eventkit.store.upcasting import Upcaster, Upcasters


class Store(Appending, Reading, Proving):
    """An event store in a folder. Use :func:`open_store` to get one.

    Args:
        path: The store folder; created when missing.
        durability: ``"normal"``: an acknowledged append survives a killed process;
            ``"full"``: it also survives a power cut (fsync per commit, slower).
        seal_threshold: Hot-log size (events) past which an append seals the hot log.
        bulk_threshold: A frame with at least this many events becomes a segment directly.
        grace_seconds: How long replaced segment files stay for readers that still scan them. A
            setting of the store, kept in its catalog and obeyed by every process: giving it
            here changes it for the store (None: keep the store's, 900 s for a new store).
        create: Create the store when ``path`` holds none (default); False: raise StoreError.
        catalog: Where the catalog lives: None for ``catalog.sqlite`` in the folder, a
            ``postgresql://`` URL for a catalog shared by several hosts, or a catalog object.
        auto_compact: After a bulk append or an automatic seal, merge small segments as the
            tiered policy of :mod:`eventkit.store.compaction_policy` says (bounded work per commit).
        files: Where segment, fold-state and projection files live: None for the folder, an
            ``s3://bucket/prefix`` URL for S3-compatible object storage (local copies cached in
            ``<path>/object-cache``), or a :class:`~eventkit.store.file_store.FileStore`.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        durability: Literal["normal", "full"] = "normal",
        seal_threshold: int = 100_000,
        bulk_threshold: int = 5_000,
        grace_seconds: float | None = None,
        create: bool = True,
        catalog: Any = None,
        auto_compact: bool = True,
        files: Any = None,
    ) -> None:
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', not {durability!r}")
        if not isinstance(path, (str, os.PathLike)) or path == "":
            # Path("") is the working folder: an unset setting would open (or make) a store wherever the
            # process happens to run.
            raise StoreError(f"the store path must be a folder name, not {path!r}; give the store's folder "
                             "('.' for the working folder)")
        root = Path(os.path.expanduser(path))  # "~/data/bank" is in the home folder, as the shell and pandas read it
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root} is a file, not an eventkit store folder")
        self.path = root.resolve()
        #: Where segment, fold-state and projection files live (the file store seam; this folder today).
        #: Chosen before the catalog is opened: a bad ``files=`` must not leave a new empty store behind.
        self.files: FileStore = choose_file_store(self.path, files)
        #: The catalog seam: sequence, stream heads, ids, hot log, segment list, checkpoints, fold states.
        self._catalog: CatalogBackend = open_catalog(root, catalog, durability=durability, create=create)
        self.durability = durability
        self.seal_threshold = seal_threshold
        self.bulk_threshold = bulk_threshold
        #: Merge small segments after bulk appends and automatic seals (eventkit.store.compaction_policy).
        self.auto_compact = auto_compact
        self._upcasters = Upcasters()  # code, not data: registered per store object
        # Two DuckDB instances: the store's own reads never share one with the user's SQL, whose
        # SET, macros and tables (DuckDB settings are mostly global to an instance) must not
        # change or break what read_stream, read_all, folds and appends see.
        self._duckdb = SharedDatabase()
        self._user_duckdb = SharedDatabase(user=True)
        self._fields_cache: tuple[int, dict[str, str]] | None = None
        self._commits = CommitSignal(lambda: self.head)  # wakes follow() and live subscriptions
        self._file_guard = FileGuard()  # a read touching a modified segment fails (see integrity)
        self._declared: tuple[int, Declarations] = (-1, Declarations())  # personal fields (see shredding)
        self._keyring = KeyRing(self._catalog)
        if grace_seconds is not None and grace_seconds != self.grace_seconds:
            self.grace_seconds = grace_seconds
        if not self._catalog.read_only:
            adopt_existing(self)  # a store from before hash chains starts one (a no-op after)

    @property
    def grace_seconds(self) -> float:
        """How long files replaced by compaction stay for running readers, in seconds.

        A property of the store (kept in the catalog), so a maintenance process cannot delete
        files under readers in other processes by using a shorter one. A read that runs longer
        than this after a compaction may fail with a StoreError ("snapshot has expired").
        """
        with self._catalog.read() as conn:
            return self._catalog.grace_seconds(conn)

    @grace_seconds.setter
    def grace_seconds(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
            raise InvalidInput("grace_seconds must be a number of seconds >= 0", values=[seconds])
        with self._catalog.write() as conn:
            self._catalog.set_meta(conn, "grace_seconds", float(seconds))

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the store. Reads already running finish; any later call raises StoreError."""
        try:
            self._duckdb.close()
            self._user_duckdb.close()
        finally:
            self._catalog.close()

    # -- facts ----------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The last committed position (0 for an empty store)."""
        with self._catalog.read() as conn:
            return self._catalog.meta_int(conn, "head")

    def wait_for_commit(self, *, after: int, timeout: float | None = None,
                        stop: threading.Event | None = None) -> int:
        """Block until the head passes ``after`` (a commit from any process), ``timeout`` s pass, or
        ``stop`` is set from another thread; returns the head.

        Appends through this store object wake waiters at once; other processes' within 50 ms.

        Example:
            >>> head = store.wait_for_commit(after=store.head, timeout=5)
        """
        return self._commits.wait(after=whole_number(after, "after"), timeout=seconds(timeout, "timeout"), stop=stop)

    def stream_version(self, stream_id: str) -> int:
        """A stream's current version; 0 when it does not exist."""
        with self._catalog.read() as conn:
            return self._catalog.stream_heads(conn, [stream_id]).get(stream_id, (None, 0))[1]

    def stored_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Those of ``event_ids`` the store holds: an index lookup in the catalog, no scan.

        Used by imports to skip rows stored by an earlier run.
        """
        ids = sorted(str(i) for i in event_ids)  # probes in key order: the index pages stay cached
        found: set[str] = set()
        with self._catalog.read() as conn:
            head = self._catalog.meta_int(conn, "head")
            for start in range(0, len(ids), 100_000):
                found.update(self._catalog.known_ids(conn, ids[start:start + 100_000]))
        own = self._catalog.id_prefix[:8]
        for event_id in (i for i in ids if i.startswith(own)):  # ids this store generated
            position = generated_position(self._catalog.id_prefix, event_id)
            if position is not None and position <= head:
                found.add(event_id)
        return found

    @property
    def fields(self) -> dict[str, str]:
        """The payload schema: field name -> DuckDB type."""
        with self._catalog.read() as conn:
            return self._catalog.fields(conn)

    def info(self) -> _maintenance.StoreInfo:
        """Streams, event types, counts, time range and size of the store."""
        return _maintenance.info(self)

    def seal(self) -> int:
        """Move every hot-log event into Parquet segments; returns how many moved."""
        return _maintenance.seal(self)

    def compact(self, *, target_events: int = 2_000_000, progress: bool = False) -> _maintenance.CompactResult:
        """Merge small segments into larger ones without changing any event."""
        return _maintenance.compact(self, target_events=target_events, progress=progress)

    def gc(self) -> list[str]:
        """Tidy the files: rewrite ``segments/_live.json``, then delete files that compaction replaced
        (once the store's grace period has passed) and files a crash left unrecorded.

        Returns:
            The removed files, relative to the store folder.

        Example:
            >>> store.gc()
            []
        """
        return _maintenance.gc(self)

    # -- consumers and upcasting -----------------------------------------------------------------
    # Thin delegates: the logic lives in _subscriptions and _upcast.

    def subscribe(self, handler: Any, *, name: str, event_types: Sequence[str] | None = None,
                  stream_types: Sequence[str] | None = None, batch_size: int = 1000) -> Any:
        """A catch-up consumer with a durable checkpoint, at-least-once (see :class:`eventkit.Subscription`).

        Example:
            >>> sub = store.subscribe(lambda batch: print(len(batch)), name="printer")
            >>> sub.run_once()
        """
        from eventkit.store.subscriptions import Subscription

        return Subscription(self, handler, name=name, event_types=event_types,
                            stream_types=stream_types, batch_size=batch_size)

    def project(self, handler: Any, *, name: str, key: str | Sequence[str] | None = None,
                event_types: Sequence[str] | None = None, stream_types: Sequence[str] | None = None,
                batch_size: int = 10_000) -> Any:
        """An exactly-once read model kept as Parquet in the store (see :class:`eventkit.Projection`).

        Example:
            >>> p = store.project(lambda b: b[["event_id", "stream_id"]], name="ids")
            >>> p.run_once(); p.df()
        """
        from eventkit.store.projections import Projection

        return Projection(self, handler, name=name, key=key, event_types=event_types,
                          stream_types=stream_types, batch_size=batch_size)

    def follow(self, handler: Any = None, *, name: str | None = None, poll: float = 0.05,
               timeout: float | None = None, **options: Any) -> Any:
        """Tail new events: a generator of DataFrame batches, or a handler per batch (see subscriptions.follow).

        Wakes on commits (no fixed polling period for this store's own appends); ``stop=`` a
        ``threading.Event`` ends it from another thread.

        Example:
            >>> for batch in store.follow(timeout=30):
            ...     print(batch[["position", "event_type"]])
        """
        from eventkit.store.subscriptions import follow

        return follow(self, handler, name=name, poll=poll, timeout=timeout, **options)

    def checkpoints(self) -> Any:
        """Every consumer's durable checkpoint (name, position, updated_at) as a DataFrame."""
        from eventkit.store.subscriptions import checkpoints

        return checkpoints(self)

    def fold_states(self) -> Any:
        """The fold states saved in this store (see :meth:`eventkit.Fold.save_snapshot`)."""
        from eventkit.store.fold_state_files import listing

        return listing(self)

    def register_upcaster(self, upcaster: Upcaster) -> Upcaster:
        """Make reads see ``upcaster``'s event shape change (see :class:`eventkit.Upcaster`).

        Example:
            >>> store.register_upcaster(ek.Upcaster("Deposited", rename={"amt": "amount"}))
        """
        return self._upcasters.register(upcaster, self.fields)

    @property
    def upcasters(self) -> list[Upcaster]:
        """The registered upcasters, in the order they apply."""
        return self._upcasters.ordered()


def open_store(path: str | os.PathLike, *, create: bool = True, catalog: Any = None, **options: Any) -> Store:
    """Open the store in folder ``path``, creating it when missing.

    Args:
        path: A folder. A missing or empty folder becomes a new store (unless ``create=False``).
        create: False: only open an existing store, never make one (for reading: a typo in the
            path is an error, not a new empty store).
        catalog: None: the catalog is ``catalog.sqlite`` in the folder. A ``postgresql://`` URL:
            the catalog is kept in that PostgreSQL database (see the README, "Sharing a store").
        **options: See :class:`Store` (durability, seal_threshold, bulk_threshold, grace_seconds;
            the last is a setting of the store, kept in its catalog).

    Raises:
        StoreError: ``path`` is a file, a folder that is not a store, a store written by a
            newer eventkit, or (with ``create=False``) holds no store; or a new store cannot be
            created there. A store this process cannot write opens read-only: reads work, writes
            raise StoreError.

    Example:
        >>> store = ek.open_store("data/bank")
        >>> store = ek.open_store("data/bank", create=False)  # an existing store only
    """
    return Store(path, create=create, catalog=catalog, **options)
