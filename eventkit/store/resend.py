"""Recognising a re-sent append by its event ids, and reporting the original append exactly.

An event id names one event forever, so an append whose ids are already stored is either a
re-send (nothing is written; the caller gets the original positions and versions) or an error
(the same id with other content, or only some of its ids stored). Runs inside the append's
write transaction, before anything is written.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pyarrow as pa

from eventkit.store.batches import canonical_payload
from eventkit.store.catalog_interface import CatalogBackend
from eventkit.store.envelope import generated_position
from eventkit.common.errors import DuplicateEventId
from eventkit.store.file_store import FileStore
from eventkit.store.read_snapshot import read_snapshot

Describe = Callable[[list[int]], list[tuple[str, str, dict]]]
"""Given row numbers of the incoming append: (stream_id, event_type, payload) of each."""


def existing_append(
    catalog: CatalogBackend, tx: Any, files: FileStore, ids: Sequence[str | None], describe: Describe
) -> tuple[int, int, dict[str, int]] | None:
    """(first position, last position, versions) of the original append if this one re-sends it.

    Ids this store generated carry their position; every id a caller supplied is in the
    catalog's ``event_ids`` index. So the lookup never scans segments. ``ids`` has one entry per
    incoming event (None: no id); ``describe`` is only called when some ids are found, so a
    first append does not build its rows twice.

    Raises:
        DuplicateEventId: Some ids are stored with other content, or only some are stored.
    """
    id_prefix = catalog.id_prefix
    head = catalog.meta_int(tx, "head")
    found: dict[str, int] = {}
    others = []
    for event_id in ids:
        if event_id is None:
            continue
        position = generated_position(id_prefix, event_id)
        if position is None:
            others.append(event_id)
        elif position <= head:
            found[event_id] = position
        else:
            raise DuplicateEventId(
                f"event id {event_id!r} has the form of an id this store generates, for position "
                f"{position}, which is not written yet; use ids of your own making"
            )
    if others:
        found.update(catalog.known_ids(tx, others))
    if not found:
        return None
    given = [i for i, e in enumerate(ids) if e is not None]
    rows = [i for i in given if ids[i] in found]
    stored = _stored_at(catalog, tx, files, [found[ids[i]] for i in rows])
    for i, new in zip(rows, describe(rows)):
        event_id = ids[i]
        _, sid, etype, data, _ = stored[found[event_id]]
        if (sid, etype, canonical_payload(data)) != (new[0], new[1], canonical_payload(new[2])):
            raise DuplicateEventId(
                f"event id {event_id!r} is already stored (stream {sid!r}, {etype}) with other content; "
                "an event id names one event forever: use a new id for a new event"
            )
    if len(found) < len(given):
        raise DuplicateEventId(
            f"{len(found)} of the {len(given)} event ids in this append are already stored, e.g. "
            f"{sorted(found)[:3]}; an append is all or nothing: re-send it unchanged or use new ids"
        )
    if len(given) < len(ids):
        return _mixed_resend(catalog, tx, files, ids, found, describe, head)
    return min(stored), max(stored), _versions(stored)


def _versions(stored: dict[int, tuple]) -> dict[str, int]:
    versions: dict[str, int] = {}
    for _, sid, _, _, version in stored.values():
        versions[sid] = max(version, versions.get(sid, 0))
    return versions


def _stored_at(catalog: CatalogBackend, tx: Any, files: FileStore, positions: list[int]) -> dict[int, tuple]:
    """position -> (event_id, stream_id, event_type, data, version) of stored events."""
    con = read_snapshot(catalog, tx, files).connect()
    try:
        con.register("_pos", pa.table({"position": pa.array(positions, pa.int64())}))
        rows = con.execute(
            "SELECT position, event_id, stream_id, event_type, data, version "
            "FROM events WHERE position IN (SELECT position FROM _pos)"
        ).fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def _mixed_resend(catalog: CatalogBackend, tx: Any, files: FileStore, ids: Sequence[str | None], found: dict[str, int], describe: Describe,
                  head: int) -> tuple[int, int, dict[str, int]]:
    """A re-send whose events only partly carry ids: the original append, found by position.

    An append's events take consecutive positions in their order, so the stored ids fix where
    the original began; every event of the re-send, with an id or without, must then be the
    stored event at its place.
    """
    starts = {found[e] - i for i, e in enumerate(ids) if e is not None}
    first = min(starts)
    last = first + len(ids) - 1
    problem = None
    stored: dict[int, tuple] = {}
    if len(starts) > 1 or first < 1 or last > head:
        problem = "in other places"
    else:
        stored = _stored_at(catalog, tx, files, list(range(first, last + 1)))
        for i, new in enumerate(describe(list(range(len(ids))))):
            _, sid, etype, data, _ = stored[first + i]
            if (sid, etype, canonical_payload(data)) != (new[0], new[1], canonical_payload(new[2])):
                problem = f"next to other events (the event at position {first + i} differs from event {i})"
                break
    if problem is not None:
        raise DuplicateEventId(
            f"event ids {sorted(found)[:3]} are already stored, but {problem} than in this append; an append "
            "whose events only partly carry ids is a re-send only when unchanged: re-send it unchanged, "
            "or give every event an id"
        )
    return first, last, _versions(stored)
