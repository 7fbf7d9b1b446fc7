"""Automatic compaction: a tiered policy that keeps a store's segment count bounded.

Every bulk append writes a segment, so a store fed by many small bulk appends (a loader running
every minute, ``bulk_threshold`` set low) collects thousands of tiny files, and every read opens
all of their footers: 10,000 segments of 10 events made the first query take 2.5 s.

The policy sorts the live segments of each stream type into size tiers (tier *k* holds segments
of ``FAN_IN**k`` to ``FAN_IN**(k+1) - 1`` events). When a tier holds ``FAN_IN`` segments, they are
merged into one, which lands in a higher tier — the shape of an LSM tree's size-tiered compaction.
So a store of *N* events written in appends of *a* events keeps at most ``FAN_IN - 1`` segments
per tier, about ``(FAN_IN - 1) * log_FAN_IN(N / a)`` small segments in all, plus the large ones
(``max_events`` and more, left to ``store.compact()``).

Work is bounded per commit: after a bulk append or a seal, the committing call merges at most one
group (``FAN_IN`` segments, at most ``max_events`` events in all), writing the new file outside the
catalog's write lock and swapping it in with one short transaction (see
:func:`eventkit.store.maintenance.compact`), so other appenders wait only for that transaction.
"""

from __future__ import annotations

from typing import Sequence

#: Segments per tier that trigger a merge, and the size ratio between tiers.
FAN_IN = 16
#: Never merge automatically into a segment larger than this (``store.compact()``'s default target).
MAX_EVENTS = 2_000_000


def tier(event_count: int, fan_in: int | None = None) -> int:
    """The size tier of a segment of ``event_count`` events: 0 for 1 to fan_in - 1, 1 for the next, ..."""
    fan_in = FAN_IN if fan_in is None else fan_in
    k, bound = 0, fan_in
    while event_count >= bound:
        k += 1
        bound *= fan_in
    return k


def plan(segments: Sequence[tuple], *, fan_in: int | None = None, max_events: int | None = None) -> list[tuple] | None:
    """The one group of segments to merge next, or None when every tier is below ``fan_in``.

    Args:
        segments: Live segments as the catalog lists them (``segment_id, path, stream_type,
            first_position, last_position, event_count, ...``), in position order.
        fan_in: Segments per tier that trigger a merge (default :data:`FAN_IN`).
        max_events: The largest merged segment the policy makes (default :data:`MAX_EVENTS`).

    Returns:
        The ``fan_in`` oldest segments of the lowest full tier of one stream type, in position
        order (fewer, at least two, if their merged size would pass ``max_events``); None if
        there is nothing to do.

    Example:
        >>> segs = [(i, f"s{i}", "account", i, i, 10) for i in range(16)]
        >>> [s[0] for s in plan(segs)] == list(range(16))
        True
        >>> plan(segs[:15]) is None
        True
    """
    fan_in = FAN_IN if fan_in is None else fan_in
    max_events = MAX_EVENTS if max_events is None else max_events
    if fan_in < 2:
        raise ValueError(f"fan_in must be at least 2, got {fan_in}")
    tiers: dict[tuple[str, int], list[tuple]] = {}
    for seg in segments:
        if seg[5] < max_events:
            tiers.setdefault((seg[2], tier(seg[5], fan_in)), []).append(seg)
    for (_, _k), members in sorted(tiers.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if len(members) >= fan_in:
            group, total = [], 0
            for seg in members[:fan_in]:  # as many of the oldest as fit under max_events
                if total + seg[5] > max_events:
                    break
                group.append(seg)
                total += seg[5]
            if len(group) >= 2:
                return group
    return None
