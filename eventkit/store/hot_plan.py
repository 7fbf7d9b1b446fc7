"""An append's hot-log rows, planned in memory, and a group commit's put-off hot-log writes.

:func:`plan_hot` makes an append's checks (stream type, expected version, explicit versions) and its
rows after a given state of the log, changing nothing: the append path runs it inside its write
transaction, either before writing the rows itself or, in a shared transaction, before handing them
to :class:`PendingHot`, which writes the whole group's rows, chain links, stream heads and counters in
one statement each (see :class:`eventkit.store.group_commit.Deferred`).

May use :mod:`.envelope`, :mod:`.stream_heads`, :mod:`.chain_links`, :mod:`.append_state_cache`,
:mod:`.batches` and :mod:`.catalog_interface`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from eventkit.store.append_state_cache import AppendStateCache
from eventkit.store.batches import HotBatch
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.chain_links import append_link
from eventkit.store.envelope import generated_event_id
from eventkit.store.stream_heads import AppendResult, check_expected, check_explicit_versions, resolve_stream_type

def stream_rows(sids: Sequence[str]) -> dict[str, list[int]]:
    """stream_id -> the batch's rows of it, streams in order of first appearance."""
    if len(sids) == 1:  # the operational case: one event, one stream (kept free of per-row bookkeeping)
        return {sids[0]: [0]}
    order: dict[str, list[int]] = {}
    for i, sid in enumerate(sids):
        order.setdefault(sid, []).append(i)
    return order


def plan_hot(batch: HotBatch, expected: dict[Any, Any], order: dict[str, list[int]], state: dict[str, int],
              heads: Mapping[str, tuple[str, int]], prefix: str, now: int
              ) -> tuple[list[tuple], list[tuple[str, str, int, int]], int]:
    """An append's checks and rows after the log's ``state`` and its streams' ``heads``; changes nothing.

    ``now``: the clock (µs since the epoch); recorded_at is the later of it and the log's last one.

    Returns:
        (the hot-log rows, the streams' new heads as ``upsert_streams`` takes them, recorded_at).

    Raises:
        WrongExpectedVersion, VersionTaken, InvalidInput: the append is refused.
    """
    n = len(batch)
    sids = batch.stream_ids
    head = state["head"]
    recorded = max(now, state["last_recorded"])
    if n == 1:  # the loop below for one event, without its per-row lists
        sid = sids[0]
        existing_type, current = heads.get(sid, (None, 0))
        stype = resolve_stream_type(sid, existing_type, {batch.stream_types[0]})
        check_expected(sid, expected, current)
        if batch.versions is not None:
            check_explicit_versions(sid, current, batch.versions)
        version = current + 1 if batch.versions is None else batch.versions[0]
        occurred = batch.occurred[0]
        return ([(head + 1, sid, stype, version, batch.event_types[0],
                  batch.event_ids[0] or generated_event_id(prefix, head + 1),
                  recorded if occurred is None else occurred, recorded, batch.data_json[0], batch.meta_json[0])],
                [(sid, stype, version, head + 1)], recorded)
    versions = [0] * n
    stypes = [""] * n
    new_heads = []
    for sid, rows in order.items():
        existing_type, current = heads.get(sid, (None, 0))
        stype = resolve_stream_type(sid, existing_type, {batch.stream_types[i] for i in rows})
        check_expected(sid, expected, current)
        if batch.versions is not None:
            vs = [batch.versions[i] for i in rows]
            check_explicit_versions(sid, current, vs)
        else:
            vs = range(current + 1, current + 1 + len(rows))
        for i, v in zip(rows, vs):
            versions[i], stypes[i] = v, stype
        new_heads.append((sid, stype, versions[rows[-1]], head + 1 + rows[-1]))
    event_ids, occurred = batch.event_ids, batch.occurred
    rows_out = [
        (
            head + 1 + i, sids[i], stypes[i], versions[i], batch.event_types[i],
            event_ids[i] or generated_event_id(prefix, head + 1 + i),
            recorded if occurred[i] is None else occurred[i], recorded,
            batch.data_json[i], batch.meta_json[i],
        )
        for i in range(n)
    ]
    return rows_out, new_heads, recorded


class PendingHot:
    """The hot-log appends of one shared transaction, put off (see :meth:`eventkit.store.store_appends.Appending._defer_hot`).

    Holds the log's state and the stream heads as the appends so far leave them; :meth:`flush` writes
    their rows, chain links, stream heads and counters, one statement each, and hands the state after
    them to the cache of the store object that read it (whose marks it was read under), through the
    last append's result.
    """

    __slots__ = ("catalog", "cache", "state", "heads", "chain", "data_version", "rows", "links", "written", "last")

    def __init__(self, catalog: CatalogBackend, cache: AppendStateCache, state: dict[str, int],
                 heads: dict[str, tuple[str, int]], chain: Any, data_version: Any) -> None:
        self.catalog, self.cache, self.state, self.heads, self.chain = catalog, cache, state, heads, chain
        self.data_version = data_version
        self.rows: list[tuple] = []
        self.links: list[tuple] = []
        self.written: dict[str, tuple[str, str, int, int]] = {}
        self.last: list[Any] | None = None

    def add(self, rows: list[tuple], new_heads: list[tuple[str, str, int, int]], recorded: int) -> list[Any]:
        """Take one checked append; returns its [AppendResult, hot count, outcome (set at the flush)]."""
        link = append_link(self.chain, rows)  # the append's own link, as record_hot_append makes it
        self.chain = (link[0], link[7])
        self.links.append(link)
        self.rows.extend(rows)
        state, heads, written = self.state, self.heads, self.written
        for h in new_heads:
            heads[h[0]] = (h[1], h[2])
            written[h[0]] = h
        n = len(rows)
        state["head"] += n
        state["hot_count"] += n
        state["last_recorded"] = recorded
        self.last = [AppendResult(rows[0][0], rows[-1][0], {h[0]: h[2] for h in new_heads}), state["hot_count"], None]
        return self.last

    def flush(self, tx: Any) -> None:
        if not self.rows:
            return
        catalog, state = self.catalog, self.state
        catalog.insert_hot(tx, self.rows)
        catalog.add_links(tx, self.links)
        catalog.upsert_streams(tx, list(self.written.values()))
        catalog.set_log_state(tx, head=state["head"], last_recorded=state["last_recorded"],
                              hot_count=state["hot_count"])
        self.last[2] = self.cache.outcome(catalog, tx, self.data_version, dict(state),  # type: ignore[index]
                                          {sid: (h[1], h[2]) for sid, h in self.written.items()}, self.chain)
