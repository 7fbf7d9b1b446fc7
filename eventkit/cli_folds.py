"""The fold commands, ``eventkit state`` and ``eventkit snapshots``: a fold from a Python module, folded
by the library, written or printed. A thin skin over :mod:`eventkit.fold`."""

from __future__ import annotations

from typing import Any

import click
import duckdb

from eventkit.cli_common import OUTPUT, parse_known_at, user_errors
from eventkit.cli_output import select_rows, write_frame
from eventkit.cli_stores import open_existing
from eventkit.fold.loading import load_fold

def _load_fold(spec: str) -> Any:
    """Import ``module:attribute`` (the current folder is importable) and return a fold object."""
    with user_errors():
        return load_fold(spec)


def _every(value: str) -> str | int:
    return int(value) if value.strip().isdecimal() else value


_FOLD_ARG = click.argument("fold", metavar="MODULE:ATTRIBUTE")
_OUT = click.option("-o", "--output", type=click.Path(dir_okay=False),
                    help="Write the rows to a .csv, .tsv or .parquet file instead of printing them.")
_STREAMS = click.option("--stream", "streams", multiple=True, help="Only this stream id; repeatable.")


def _look(command: Any) -> Any:
    """--where, --sort and --limit: a quick look at a fold's rows."""
    for option in reversed([
        click.option("--where", help="Only rows matching this SQL condition over the columns, e.g. \"balance > 1000\"."),
        click.option("--sort", help="Sort by these columns (comma-separated; -name sorts descending)."),
        click.option("--limit", type=click.IntRange(min=0, max=2**63 - 1), help="At most this many rows."),
    ]):
        command = option(command)
    return command


@click.command()
@click.argument("path")
@_FOLD_ARG
@click.option("--as-of", help="Valid time: fold only events that occurred at or before it (ISO time).")
@click.option("--known-at", help="Transaction time: what the store knew then (a position, or an ISO time).")
@_STREAMS
@_look
@_OUT
@click.option("--format", "fmt", type=OUTPUT, default="table", show_default=True, help="How to print (without -o).")
@click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows a table shows (0: all).")
def state(path: str, fold: str, as_of: str | None, known_at: str | None, streams: tuple[str, ...],
          where: str | None, sort: str | None, limit: int | None, output: str | None, fmt: str,
          max_rows: int) -> None:
    """Fold every stream to its state: one row per stream, for a fold defined in Python.

    MODULE:ATTRIBUTE names an ek.Fold or ek.PyFold (object or PyFold subclass) in an importable
    module; the current folder is on the import path (folds.py -> folds:account).

    \b
    Example:
      eventkit state data/bank folds:account
      eventkit state data/bank folds:account --as-of 2024-06-30 --known-at 2024-07-01 -o june.csv
      eventkit state data/bank folds:Balance --stream acct-1 --format json
      eventkit state data/bank folds:account --where "status = 'open'" --sort -balance --limit 10
    """
    fold_obj = _load_fold(fold)
    with open_existing(path) as store, user_errors(duckdb.Error):
        df = fold_obj.state(store, as_of=as_of, known_at=parse_known_at(known_at), streams=list(streams) or None)
        df = select_rows(df, where=where, sort=sort, limit=limit)
    write_frame(df, output, fmt, max_rows)


@click.command()
@click.argument("path")
@_FOLD_ARG
@click.option("--every", default="1D", show_default=True,
              help="Step between points: 1D, 6h, 1W, 1MS (month starts), QS, YS, or N (every N positions).")
@click.option("--start", help="First point (ISO time; a position with --every N).")
@click.option("--end", help="Last point, inclusive (ISO time; a position with --every N).")
@click.option("--known-at", help="Transaction time: what the store knew then (a position, or an ISO time).")
@click.option("--changes", is_flag=True,
              help="Only the rows where a stream changed (time column changed_at); default: every "
                   "stream at every point (as_of).")
@click.option("--dense", is_flag=True, hidden=True, help="Deprecated: the default.")
@click.option("--tz", default="UTC", show_default=True, help="Time zone of the calendar (days start at local midnight).")
@_STREAMS
@_look
@_OUT
@click.option("--format", "fmt", type=OUTPUT, default="table", show_default=True, help="How to print (without -o).")
@click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows a table shows (0: all).")
def snapshots(path: str, fold: str, every: str, start: str | None, end: str | None, known_at: str | None,
              changes: bool, dense: bool, tz: str, streams: tuple[str, ...], where: str | None,
              sort: str | None, limit: int | None, output: str | None, fmt: str, max_rows: int) -> None:
    """Fold every stream at many points in time, in one pass: rows (as_of, stream_id, fields...).

    MODULE:ATTRIBUTE names an ek.Fold or ek.PyFold as for `eventkit state`.

    \b
    Example:
      eventkit snapshots data/bank folds:account --every 1D --start 2024-01-01 --end 2024-12-31 -o daily.parquet
      eventkit snapshots data/bank folds:account --every 1MS --tz Europe/Zurich --format csv > monthly.csv
      eventkit snapshots data/bank folds:account --every 1D --changes -o changes.parquet
      eventkit snapshots data/bank folds:account --every 1000
      eventkit snapshots data/bank folds:account --every 1MS --where "stream_id = 'acct-00001'"
    """
    fold_obj = _load_fold(fold)
    step = _every(every)
    points = {k: (int(v) if isinstance(step, int) and v is not None and v.strip().isdecimal() else v)
              for k, v in (("start", start), ("end", end))}
    with open_existing(path) as store, user_errors(duckdb.Error):
        method = fold_obj.changes if changes else fold_obj.snapshots
        df = method(store, every=step, start=points["start"], end=points["end"], tz=tz,
                    known_at=parse_known_at(known_at), streams=list(streams) or None)
        df = select_rows(df, where=where, sort=sort, limit=limit)
    write_frame(df, output, fmt, max_rows)


COMMANDS = [state, snapshots]
