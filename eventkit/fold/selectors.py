"""Selectors that match nothing: a fold's stream type or event types the store has never seen.

``ek.count(event_types=["MatchPlyed"])`` is 0 for every stream and ``Fold(stream_type="teams")``
an empty frame, both without a word. A fold checks its names against what the whole store holds
(not the cut it folds: a type that appears later is a legitimate empty answer for an earlier
question) and warns with the closest existing name.

What warns: a stream type the store does not hold (the fold selects no stream at all), and an
event type the store does not hold *that looks like a misspelling of one it does* (``MatchPlyed``
next to ``MatchPlayed``, ``deposited`` next to ``Deposited``: see :func:`closest`). An absent
event type that is no such near miss is not warned about: it may simply not have happened yet
(``count(event_types=["Closed"])`` before any account closes, ``"Unfrozen"`` in a status mapping
while accounts have only been frozen).

Cost: one DuckDB scan of the two dictionary-encoded columns ``stream_type`` and ``event_type``,
remembered per store object and topped up with only the events appended since, so repeated folds
in a notebook pay a lookup of ``store.head``. An empty store never warns.
"""

from __future__ import annotations

import weakref
from typing import Any, Iterable

from eventkit.common.errors import did_you_mean, warn

# store -> (head, {stream_type: {event_type, ...}})
_KNOWN: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, set[str]]]] = weakref.WeakKeyDictionary()


def known_types(store: Any) -> dict[str, set[str]] | None:
    """``{stream_type: {event_type, ...}}`` over every event in the store, or None if unknowable."""
    head = getattr(store, "head", None)
    if not isinstance(head, int) or not hasattr(store, "sql"):
        return None  # a store double (tests) or another source: nothing to check against
    try:
        cached = _KNOWN.get(store)
    except TypeError:
        cached = None
    if cached is not None and cached[0] == head:
        return cached[1]
    since = cached[0] if cached is not None else 0
    types = {k: set(v) for k, v in (cached[1] if cached is not None else {}).items()}
    rows = store.sql(
        "SELECT stream_type, list(DISTINCT event_type) FROM events WHERE position > ? AND position <= ? GROUP BY 1",
        params=[since, head],
    ).fetchall()
    for stream_type, event_types in rows:
        types.setdefault(stream_type, set()).update(event_types)
    try:
        _KNOWN[store] = (head, types)
    except TypeError:
        pass
    return types


def check_fold_selectors(store: Any, *, fold_name: str, stream_type: str | None,
                         event_types: Iterable[tuple[str, str]]) -> None:
    """Warn (:class:`eventkit.EventKitWarning`) about names that select nothing in the store.

    Args:
        store: The store the fold runs on.
        fold_name: For the message.
        stream_type: The fold's stream type (None: every stream).
        event_types: ``(where, event_type)`` pairs: where a reducer names it, and the name.
    """
    wanted = list(event_types)
    if stream_type is None and not wanted:
        return
    types = known_types(store)
    if not types:
        return  # an empty store: every fold is legitimately empty
    if stream_type is not None and stream_type not in types:
        warn(f"fold {fold_name!r}: stream type {stream_type!r} is not in the store, so the fold "
             f"selects no stream{did_you_mean(stream_type, types)}")
        return
    everywhere = set().union(*types.values())
    for where, event_type in dict.fromkeys(wanted):
        if event_type in everywhere:
            continue
        close = closest(event_type, everywhere)
        if close is not None:
            warn(f"fold {fold_name!r}, {where}: event type {event_type!r} is not in the store, so it "
                 f"matches nothing; did you mean {close!r}?")


def closest(name: str, names: Iterable[str]) -> str | None:
    """The existing name ``name`` is probably a misspelling of, or None.

    A misspelling: the same letters in another case, or a name of four letters or more within a
    small edit distance (one edit per five letters, at least one; a swap of neighbours is one edit)
    that is not a part of the other. ``"Unfrozen"`` is not a misspelling of ``"Frozen"``: a status
    mapping may well name a state no stream has reached yet.
    """
    best: tuple[int, str] | None = None
    low = name.lower()
    for other in sorted(names):
        o = other.lower()
        if o == low:
            return other
        if len(low) < 4 or low in o or o in low:
            continue
        limit = max(1, len(low) // 5)
        d = _edit_distance(low, o, limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, other)
    return None if best is None else best[1]


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps),
    or ``limit + 1`` when the lengths alone show it is above ``limit`` (cheap for many names)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]
