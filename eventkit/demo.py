"""eventkit's main job on the bundled sample domain: build the store, then analyse it.

``python -m eventkit.demo`` (what ``make demo`` runs) builds a sample bank store under
``data/bank`` from :func:`eventkit.sample.bank_events` when it is not there yet, and prints what
is in it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._errors import EventKitError
from ._progress import progress_bar
from ._store import Store, open_store
from .sample import bank_events, split_late

DEFAULT_STORE = Path("data") / "bank"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventkit.demo", description=__doc__)
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: data/bank)")
    parser.add_argument("--accounts", type=int, default=2_000, help="accounts in a new sample store")
    parser.add_argument("--events-per-account", type=float, default=50.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        store = build_sample_store(args.store, accounts=args.accounts, events_per_account=args.events_per_account)
        print(store.info())
    except EventKitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
