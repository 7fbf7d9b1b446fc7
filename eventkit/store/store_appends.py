"""The store's append path: :meth:`~eventkit.Store.append` and :meth:`~eventkit.Store.append_frame`.

:class:`Appending` is a part of :class:`eventkit.store.event_store.Store` (its base class): small
appends go to the hot log in one catalog write transaction (expected versions, supplied ids and the
payload schema checked inside it); large frames go to :func:`.maintenance.append_bulk`.

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.batches`, :mod:`.stream_heads`, :mod:`.hot_plan`,
:mod:`.catalog_interface`, :mod:`.resend` and :mod:`.maintenance`.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

from eventkit.common.errors import EventKitWarning, InvalidInput, SealDeferredWarning
from eventkit.store import maintenance as _maintenance
from eventkit.store import group_commit as _group_commit
from eventkit.store import resend as _resend
from eventkit.store import tracking as _tracking
from eventkit.store.append_state_cache import AppendStateCache
from eventkit.store.batches import HotBatch, arrow_batch_from_frame, hot_from_arrow, hot_from_events, hot_from_pairs
from eventkit.store.commit_signal import CommitSignal
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.chain_links import record_hot_append
from eventkit.store.envelope import ANY, Event, check_expected_version, check_name, micros_now, reconcile
from eventkit.store.file_store import FileStore
from eventkit.store.shredding import Declarations, KeyRing, encrypt_hot_rows
from eventkit.store.hot_plan import PendingHot, plan_hot, stream_rows
from eventkit.store.stream_heads import AppendResult
from eventkit.store.tracking import check_checkpoint


class Appending:
    """Appending events: the write half of :class:`~eventkit.store.event_store.Store`."""

    _catalog: CatalogBackend
    files: FileStore
    bulk_threshold: int
    seal_threshold: int
    auto_compact: bool
    _fields_cache: tuple[int, dict[str, str]] | None
    _commits: CommitSignal
    _keyring: KeyRing
    _append_cache: AppendStateCache | None = None  # made on the first append (see _state_cache)

    seal: Callable[[], int]  # provided by Store
    _declarations: Callable[[Any, dict[str, int]], Declarations]  # provided by Proving


    def append(
        self,
        stream_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: Any = ANY,
        stream_type: str | None = None,
        checkpoint: tuple[str, int] | None = None,
    ) -> AppendResult:
        """Append events to one stream, atomically.

        Args:
            stream_id: The entity the events belong to.
            events: One :class:`Event` or several.
            expected_version: ``ek.ANY``, ``ek.NO_STREAM``, ``ek.STREAM_EXISTS`` or the exact
                version the stream must be at (0 means "no stream").
            stream_type: The kind of entity; a new stream without one is ``"default"``.
            checkpoint: ``(consumer, position)``: commit that consumer's position with the events
                (see :mod:`eventkit.store.tracking`); refused unless above its stored position.

        Returns:
            The positions taken and the stream's new version.

        Raises:
            WrongExpectedVersion: The stream is not at ``expected_version`` (or an event's explicit
                ``version`` is taken); nothing was written.
            CheckpointConflict: The consumer is already at or past ``checkpoint``'s position.
            InvalidInput: Bad events; nothing was written.
            DuplicateEventId: An event id is already stored with other content.

        Example:
            >>> store.append("acct-1", [ek.Event("Deposited", {"amount": 10})],
            ...              expected_version=ek.NO_STREAM, stream_type="account").version
            1
        """
        check_expected_version(str(stream_id), expected_version)
        batch = hot_from_events(stream_id, events, stream_type)
        if not len(batch):
            raise InvalidInput(f"an append needs at least one event (stream {stream_id!r})")
        return self._append_hot(batch, {stream_id: expected_version}, check_checkpoint(checkpoint))

    def checkpoint(self, name: str) -> int | None:
        """Consumer ``name``'s stored position (see ``append(..., checkpoint=...)``); None when it has none.

        Example:
            >>> store.append("acct-1", ek.Event("Noted"), checkpoint=("notes", 41))
            >>> store.checkpoint("notes")
            41
        """
        return _tracking.position(self._catalog, name)

    def append_streams(
        self,
        events: Mapping[str, Event | Iterable[Event]] | Iterable[tuple[str, Event]],
        *,
        expected_versions: Any = None,
        stream_type: str | None = None,
        checkpoint: tuple[str, int] | None = None,
    ) -> AppendResult:
        """Append events of several streams in one transaction, without building a DataFrame.

        Args:
            events: ``{stream_id: events}``, or ``(stream_id, Event)`` pairs (kept in their order).
            expected_versions: ``{stream_id: expected}`` (streams left out accept any version), or
                one expected version for every stream.
            stream_type: The kind of entity, for new streams.
            checkpoint: ``(consumer, position)`` committed with the events (see :meth:`append`).
                With no events, only the consumer's position moves.

        Returns:
            The positions taken and every touched stream's new version.

        Example:
            >>> store.append_streams({"acct-1": [ek.Event("Debited", {"amount": 5})],
            ...                       "acct-2": [ek.Event("Credited", {"amount": 5})]},
            ...                      expected_versions={"acct-1": 3, "acct-2": ek.NO_STREAM})
        """
        if isinstance(events, Mapping):
            pairs = [(sid, ev) for sid, evs in events.items()
                     for ev in ([evs] if isinstance(evs, Event) else evs)]
        else:
            pairs = list(events)
            bad = [p for p in pairs if not (isinstance(p, tuple) and len(p) == 2)]
            if bad:
                raise InvalidInput("append_streams takes {stream_id: events} or (stream_id, Event) pairs", values=bad[:3])
        if isinstance(expected_versions, Mapping):
            for sid, ev in expected_versions.items():
                check_expected_version(str(sid), ev)
            expected = dict(expected_versions)
        else:
            expected_versions = ANY if expected_versions is None else expected_versions
            check_expected_version("*", expected_versions)
            expected = {None: expected_versions}
        tracked = check_checkpoint(checkpoint)
        batch = hot_from_pairs(pairs, stream_type)
        if not len(batch) and tracked is None:
            raise InvalidInput("an append needs at least one event (or a checkpoint to move)")
        untouched = [sid for sid in expected if sid is not None and sid not in {p[0] for p in pairs}]
        if untouched:  # a mistyped stream id would otherwise mean no check at all
            raise InvalidInput("expected_versions names streams this append has no events for; check the stream ids",
                               column="expected_versions", values=untouched[:3])
        return self._append_hot(batch, expected, tracked)

    def append_frame(
        self,
        frame: Any,
        *,
        expected_versions: Any = None,
        stream_type: str | None = None,
        checkpoint: tuple[str, int] | None = None,
    ) -> AppendResult:
        """Append a DataFrame or Arrow table of events for many streams, atomically.

        Envelope columns are taken by name: ``stream_id`` and ``event_type`` (required),
        ``stream_type``, ``occurred_at``, ``event_id``, ``version``, ``metadata`` (optional);
        every other column is a payload field. Rows are committed in frame order. A ``version``
        column gives explicit versions: strictly increasing within a stream and above its
        current version (gaps allowed).

        Args:
            frame: A pandas DataFrame or pyarrow Table.
            expected_versions: One expected version for every stream in the frame, or a mapping
                ``{stream_id: expected}``; streams not in the mapping accept any version.
            stream_type: Stream type for rows without one (and new streams).
            checkpoint: ``(consumer, position)`` committed with the events (see :meth:`append`).

        Returns:
            The positions taken and every touched stream's new version.
        """
        batch = arrow_batch_from_frame(frame, lambda: [f for f, kind in self.fields.items() if kind == "DATE"])
        tracked = check_checkpoint(checkpoint)
        if stream_type is not None:
            check_name(stream_type, "stream_type")
        if isinstance(expected_versions, Mapping):
            for sid, ev in expected_versions.items():
                check_expected_version(str(sid), ev)
            expected = dict(expected_versions)
        else:
            check_expected_version("*", ANY if expected_versions is None else expected_versions)
            expected = {None: ANY if expected_versions is None else expected_versions}
        if len(batch) < self.bulk_threshold:
            hot = hot_from_arrow(batch)
            if stream_type is not None:
                hot.stream_types = [t or stream_type for t in hot.stream_types]
            return self._append_hot(hot, expected, tracked)
        result = _maintenance.append_bulk(self, batch, expected, stream_type, tracked)
        self._commits.notify()
        self._auto_compact()
        return result

    def _append_hot(self, batch: HotBatch, expected: dict[Any, Any],
                    checkpoint: tuple[str, int] | None = None) -> AppendResult:
        # Shared with concurrent appenders (group commit): the work may run in another appender's thread.
        cache = self._state_cache()
        # The operational append may put its writes off in a shared transaction (see _defer_hot).
        fast = (None if checkpoint is not None or batch.ids_supplied or not len(batch)
                else lambda conn, deferred: self._defer_hot(conn, deferred, batch, expected, cache))
        result, hot_count, outcome = _group_commit.run(
            self._catalog, lambda conn: self._write_hot(conn, batch, expected, checkpoint, cache), batch.stream_ids,
            fast)
        if hot_count is None:  # a re-send, or a checkpoint alone: nothing new in the log
            return result
        cache.save(outcome)  # committed: the next append may take the state from memory
        self._commits.notify()
        if hot_count >= self.seal_threshold:
            self._auto_seal()
        return result

    def _state_cache(self) -> AppendStateCache:
        cache = self._append_cache
        if cache is None:
            cache = self._append_cache = AppendStateCache()
        return cache

    def _write_hot(self, conn: Any, batch: HotBatch, expected: dict[Any, Any],
                   checkpoint: tuple[str, int] | None, cache: AppendStateCache
                   ) -> tuple[AppendResult, int | None, Any]:
        """The append inside its write transaction: (its result, the hot log's size after it, what
        it leaves for :meth:`AppendStateCache.save`)."""
        n = len(batch)
        order = stream_rows(batch.stream_ids)
        catalog = self._catalog
        if batch.ids_supplied:
            def describe(rows: list[int]) -> list[tuple[str, str, dict]]:
                return [(batch.stream_ids[i], batch.event_types[i], json.loads(batch.data_json[i] or "{}")) for i in rows]

            dup = self._existing_append(conn, batch.event_ids, describe)
            if dup is not None:
                return dup, None, None
        if checkpoint is not None:
            _tracking.advance(catalog, conn, checkpoint)
        if not n:  # a checkpoint alone
            head = catalog.meta_int(conn, "head")
            return AppendResult(head + 1, head, {}), None, None
        # The counters, the streams' heads and the chain's head: from memory when this store object's
        # last append is the catalog's last change, else in one read (one statement on SQLite).
        state, heads, chain, data_version = cache.read(catalog, conn, list(order))
        if batch.field_types:
            self._merge_fields(conn, batch.field_types, state)
        head = state["head"]
        rows_out, new_heads, recorded = plan_hot(batch, expected, order, state, heads, catalog.id_prefix, micros_now())
        declared = self._declarations(conn, state)
        if declared:
            rows_out = encrypt_hot_rows(catalog, conn, declared, rows_out)
        catalog.insert_hot(conn, rows_out)
        link = record_hot_append(catalog, conn, rows_out, chain)  # the commit's link in the hash chain
        if batch.ids_supplied:
            catalog.add_event_ids(
                conn, [(r[5], r[0]) for r, given in zip(rows_out, batch.event_ids) if given is not None])
        catalog.upsert_streams(conn, new_heads)
        hot_count = state["hot_count"] + n
        catalog.set_log_state(conn, head=head + n, last_recorded=recorded, hot_count=hot_count)
        state["head"], state["last_recorded"], state["hot_count"] = head + n, recorded, hot_count
        outcome = cache.outcome(catalog, conn, data_version, state, {h[0]: (h[1], h[2]) for h in new_heads},
                                (link[0], link[7]))
        return AppendResult(head + 1, head + n, {sid: version for sid, _, version, _ in new_heads}), hot_count, outcome

    def _defer_hot(self, conn: Any, deferred: Any, batch: HotBatch, expected: dict[Any, Any],
                   cache: AppendStateCache) -> Any:
        """:meth:`_write_hot` in a shared transaction, its writes put off and made with the other members'
        (:class:`~eventkit.store.group_commit.Deferred`): no savepoint, and one statement per table for the
        group. Checks everything first and changes nothing; returns ``group_commit.SLOW`` (having written
        nothing) for an append that must write more than the log's rows (new payload fields, personal
        fields) or on a catalog that keeps no change marks."""
        catalog = self._catalog
        if getattr(catalog, "change_marks", None) is None:
            return _group_commit.SLOW
        order = stream_rows(batch.stream_ids)
        pending = deferred.memo.get("hot")
        if pending is None:
            state, heads, chain, data_version = cache.read(catalog, conn, list(order))
            pending = deferred.memo["hot"] = PendingHot(catalog, cache, state, heads, chain, data_version)
            deferred.writes.append(pending.flush)
        else:
            # Heads the group has not read yet: the streams table holds no put-off change to them.
            missing = [s for s in order if s not in pending.heads]
            if missing:
                pending.heads.update(catalog.stream_heads(conn, missing))
        state = pending.state
        if batch.field_types and not self._fields_known(conn, batch.field_types, state):
            return _group_commit.SLOW
        if self._declarations(conn, state):
            return _group_commit.SLOW
        rows_out, new_heads, recorded = plan_hot(batch, expected, order, state, pending.heads, catalog.id_prefix, micros_now())
        return pending.add(rows_out, new_heads, recorded)

    def _fields_known(self, conn: Any, incoming: dict[str, tuple[str, list]], state: dict[str, int]) -> bool:
        """Whether every incoming payload field already has the incoming type (no schema change to make)."""
        if self._fields_cache is None or self._fields_cache[0] != state["fields_version"]:
            self._fields_cache = (state["fields_version"], self._catalog.fields(conn))
        known = self._fields_cache[1]
        return all(known.get(name) == kind for name, (kind, _) in incoming.items())

    def _auto_seal(self) -> None:
        """Seal after a committed append; a failure must not make the append look failed.

        The append is already committed: raising here would make a natural retry store its
        events twice. The hot log keeps them, and the next append past the threshold retries.
        """
        try:
            self.seal()
            self._auto_compact()
        except Exception as e:  # noqa: BLE001 - any failure (disk full, I/O, permissions) defers the seal
            warnings.warn(
                f"the append was committed, but sealing the hot log into segments failed and is deferred "
                f"to a later append ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                "the events are stored: do not re-send them",
                SealDeferredWarning, stacklevel=4,
            )

    def _auto_compact(self) -> None:
        """One bounded step of automatic compaction after a commit that wrote a segment.

        Like the automatic seal it never makes the committed append look failed: a failure warns
        and the next commit tries again (the merge is all or nothing).
        """
        if not self.auto_compact:
            return
        try:
            _maintenance.auto_compact(self)
        except Exception as e:  # noqa: BLE001 - the append is committed whatever happens here
            warnings.warn(
                f"the append was committed, but the automatic compaction after it failed and is deferred "
                f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})",
                EventKitWarning, stacklevel=4,
            )

    def _merge_fields(self, conn: Any, incoming: dict[str, tuple[str, list]], state: dict[str, int]) -> dict[str, str]:
        """Reconcile incoming payload types with the store's schema, inside the write transaction.

        The schema is cached per store object and re-read only when ``fields_version`` (bumped by
        every schema change, from any process) moves.
        """
        if self._fields_known(conn, incoming, state):
            return self._fields_cache[1]  # every field already has the incoming type (most appends)
        known = self._fields_cache[1]
        fields = dict(known)
        _check_field_case(incoming, fields)
        changed: dict[str, str] = {}
        for name, (kind, samples) in incoming.items():
            merged = reconcile(name, fields.get(name), kind, values=samples)
            if merged != fields.get(name):
                fields[name] = changed[name] = merged
        if changed:
            self._catalog.set_fields(conn, changed)
            # The cache is only set after the transaction commits (a rollback must not keep it).
            self._catalog.set_meta(conn, "fields_version", state["fields_version"] + 1)
            state["fields_version"] += 1  # the append's state after it (see AppendStateCache.outcome)
            self._fields_cache = None
        return fields

    def _existing_append(
        self, conn: Any, ids: Sequence[str | None], describe: Callable[[list[int]], list[tuple[str, str, dict]]]
    ) -> AppendResult | None:
        """The original result if this append is a re-send (see :func:`_resend.existing_append`)."""
        found = _resend.existing_append(self._catalog, conn, self.files, ids, describe,
                                        reveal=(lambda stored, new: self._keyring.reveal_like(stored, new, conn))
                                        if self._declarations(conn, {"personal_version": self._catalog.personal_state(conn)[0]})
                                        else None)
        if found is None:
            return None
        first, last, versions = found
        return AppendResult(first, last, versions, duplicate=True)


def _check_field_case(incoming: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    """Refuse a payload field whose name differs from another only in case.

    DuckDB's struct field names are case-insensitive: ``Amount`` next to ``amount`` would make
    every later read of the store fail, so the second spelling is refused up front.
    """
    new = [name for name in incoming if name not in fields]
    if not new:  # the common case, kept cheap for stores with thousands of fields
        return
    seen = {name.lower(): name for name in fields}
    for name in new:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            where = "the store has" if other in fields else "this append also has"
            raise InvalidInput(
                f"payload field {name!r} differs only in case from field {other!r} ({where} it); "
                f"field names are case-insensitive in SQL: use {other!r} or another name",
                column=name, values=[name],
            )

