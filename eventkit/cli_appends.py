"""The writing commands, ``eventkit append`` and ``eventkit import``: events from JSON lines, CSV, JSON
or Parquet files into a store, and what was stored (or, with --dry-run, what would be). A thin skin
over :meth:`eventkit.Store.append_frame` and :mod:`eventkit.store.file_import`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import pyarrow as pa

import eventkit as ek
from eventkit.cli_common import check_output, plural, user_errors
from eventkit.cli_stores import open_existing
from eventkit.common.printable import printable
from eventkit.common.progress import progress_bar
from eventkit.store.file_import import FORMATS, prepare_table, read_events, table_from_records

class _ExpectedVersion(click.ParamType):
    name = "N|any|no-stream|exists"
    _WORDS = {"any": ek.ANY, "no-stream": ek.NO_STREAM, "exists": ek.STREAM_EXISTS}

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word in self._WORDS:
            return self._WORDS[word]
        if word.isdecimal():  # '²'.isdigit() is True, but int() refuses it
            return int(word)
        self.fail(f"{value!r} is not a version number (0, 1, 2, ...) or one of: any, no-stream, exists", param, ctx)


def _pair(mapping: str) -> tuple[str, str]:
    src, sep, dst = mapping.partition("=")
    if not (sep and src and dst):
        raise click.BadParameter(f"{mapping!r} is not SRC=DST", param_hint="--map")
    return src, dst


# -- printing -------------------------------------------------------------------------------------


def _echo_append(result: ek.AppendResult, shown: int = 20) -> None:
    n = result.last_position - result.first_position + 1
    if result.duplicate:
        click.echo(f"already stored: these {n:,} events were appended before (positions "
                   f"{result.first_position:,}..{result.last_position:,}); nothing was written")
    else:
        click.echo(f"appended {plural(n, 'event')} at positions {result.first_position:,}..{result.last_position:,}")
    for sid, version in list(result.versions.items())[:shown]:
        click.echo(f"  {printable(sid)}  version {version}")
    if len(result.versions) > shown:
        click.echo(f"  ... and {len(result.versions) - shown:,} more streams")


def _echo_dry_run(check: Any, result: Any) -> None:
    """What an import would do, found by ``--dry-run`` (nothing was written)."""
    click.echo(f"dry run, nothing written: {result.rows:,} rows would import {plural(result.imported, 'event')} into "
               f"{plural(len(result.streams), 'stream')} in {plural(result.appends, 'batch')}")
    if result.already_stored:
        click.echo(f"  {result.already_stored:,} rows are already stored (same event ids) and would be skipped")
    if result.rejected:
        click.echo(f"  {result.rejected:,} rows have cells that do not fit their column's type")
    _echo_missing_text(result, "  ")
    click.echo("payload fields:")
    for name, kind in check.fields.items():
        click.echo(f"  {name:<24} {kind}{'  (new)' if name in check.new_fields else ''}")
    if check.problems:
        for problem in check.problems:
            click.echo(f"  problem: {problem}")
        raise click.ClickException(f"the import would fail: {plural(len(check.problems), 'problem')} shown above "
                                   "(the first ones)")


def _echo_missing_text(result: Any, indent: str = "") -> None:
    """Say which text cells were read as missing (NA, NULL...): the text is gone unless --as-text."""
    if result.missing_text:
        cells = sum(result.missing_text.values())
        names = ", ".join(result.missing_text)
        click.echo(f"{indent}{plural(cells, 'cell')} spelt like a missing value (NA, NULL, N/A, ...) in text column(s) "
                   f"{names} stored as missing; --as-text COLUMN keeps them as text")


def _echo_interrupted(result: Any, allow_duplicates: bool) -> None:
    """What an interrupted import stored, and how to go on (each batch is one atomic append)."""
    stored = (f"{plural(result.imported, 'event')} stored in {plural(result.appends, 'batch')}"
              + (f" (positions {result.first_position:,}..{result.last_position:,})" if result.imported else ""))
    done = result.imported + result.already_stored
    resume = ("run the same command again to import the rest: rows already stored are skipped"
              if not allow_duplicates else
              "rows imported with --allow-duplicates carry no ids derived from their content, so running "
              f"it again would store them twice: import only the data rows after the first {done:,}")
    click.echo(f"interrupted: {stored}; the batch in progress was not stored; {resume}", err=True)


@click.command()
@click.argument("path")
@click.argument("file", default="-", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--stream-type", help="Stream type for new streams and events that give none.")
@click.option("--expected-version", type=_ExpectedVersion(), default="any", show_default=True, metavar="N|any|no-stream|exists",
              help="Every stream in the input must be at this version (0 or no-stream: not yet created).")
def append(path: str, file: str, stream_type: str | None, expected_version: Any) -> None:
    """Append JSON or JSONL events from FILE or stdin, in one atomic append.

    FILE may be - or left out for stdin. Each event is an object with stream_id and event_type, optionally occurred_at (ISO 8601; no
    zone means UTC), event_id (re-sending the same ids is a no-op), stream_type, version, metadata
    (an object), and its payload as a "data" object or as flat fields. Give a JSON array, one
    object, or one object per line. Either every event is stored or none is.

    \b
    Example:
      echo '{"stream_id": "acct-1", "event_type": "Deposited", "data": {"amount": 10}}' \\
        | eventkit append data/bank --stream-type account --expected-version no-stream
      eventkit append data/bank events.jsonl
    """
    with open_existing(path) as store:
        if file == "-" and _stdin_is_terminal():
            # Without a word the command looks hung: say what it waits for and how to end it.
            click.echo("reading events from standard input as JSON lines; end with Ctrl-D (Ctrl-Z Enter on Windows)",
                       err=True)
        with user_errors():
            table = prepare_table(table_from_records(read_events(file)), {})
            result = store.append_frame(table, expected_versions=expected_version, stream_type=stream_type)
    _echo_append(result)


def _stdin_is_terminal() -> bool:
    """Whether standard input is a terminal (a person typing), not a pipe or a file."""
    try:
        return bool(sys.stdin.isatty())
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


@click.command(name="import")
@click.argument("path")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "json", "parquet"]),
              help="Input format; by default from FILE's extension (.csv .tsv .jsonl .ndjson .json .parquet); "
                   "json is an array of events.")
@click.option("--map", "maps", multiple=True, metavar="SRC=DST", callback=lambda ctx, p, v: [_pair(m) for m in v],
              help="Rename input column SRC to DST (e.g. account=stream_id); repeatable.")
@click.option("--drop", "drops", multiple=True, metavar="COLUMN",
              help="Leave this column (JSON: key) of the input out, e.g. position and recorded_at of an "
                   "eventkit export; repeatable. A column the file lacks (a JSON key no event has) is refused.")
@click.option("--stream-type", help="Stream type for new streams and rows that give none.")
@click.option("--event-type", help="The event type of every row (for a file without an event_type column).")
@click.option("--time-format", metavar="FORMAT",
              help='How occurred_at is written, in strptime codes, e.g. "%b %d %Y" for "Jan 1 2000" '
                   "(no zone means UTC; %z reads an offset).")
@click.option("--batch-size", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Rows per append.")
@click.option("--rejects", type=click.Path(dir_okay=False), metavar="FILE",
              help="CSV: set rows with cells that do not fit their column's type aside into this CSV "
                   "(with _line and _reason columns) and import the rest.")
@click.option("--as-text", "as_text", multiple=True, metavar="COLUMN",
              help="CSV: keep this column as text whatever its cells look like; repeatable.")
@click.option("--allow-duplicates", is_flag=True,
              help="Import rows again even if an earlier import stored them (no derived event ids).")
@click.option("--dry-run", is_flag=True,
              help="Check everything and write nothing: what would be imported, the payload schema, the first problems.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def import_(path: str, file: str, fmt: str | None, maps: list[tuple[str, str]], drops: tuple[str, ...],
            stream_type: str | None,
            event_type: str | None, time_format: str | None, batch_size: int, rejects: str | None,
            as_text: tuple[str, ...], allow_duplicates: bool, dry_run: bool, no_progress: bool) -> None:
    """Import events from a CSV, JSONL or Parquet FILE; each batch is one atomic append.

    Columns named like the envelope (stream_id, event_type, occurred_at, event_id, stream_type,
    version, metadata) are taken as such, every other column is a payload field; --map renames
    columns first. A CSV column's type is decided from the whole file: a few cells that do not fit
    it (text among numbers) stop the import before anything is stored, naming their lines (the
    header is line 1), unless --rejects sets their rows aside. Importing the same rows again
    stores nothing: without an event_id column, ids are derived from each row's content, so a
    re-run (or the file with new rows appended) imports only rows not yet stored.
    EACH BATCH IS ONE ATOMIC APPEND: if a batch fails, the batches before it stay stored.

    \b
    Example:
      eventkit import data/bank transactions.csv --stream-type account \\
        --map account=stream_id --map kind=event_type --map ts=occurred_at
      eventkit import data/bank transactions.csv --rejects rejected.csv
      eventkit import data/bank events.parquet --batch-size 500000
      eventkit import data/bank transactions.csv --dry-run
      eventkit read data/bank acct-1 --format csv > acct-1.csv
      eventkit import data/copy acct-1.csv --drop position --drop recorded_at
      eventkit import data/football results.csv --stream-type team --event-type MatchPlayed \\
        --map home_team=stream_id --map date=occurred_at --time-format "%b %d %Y"
    """
    from eventkit.store.file_import import DryRun, ImportResult, import_file

    if fmt is None:
        suffixes = [s for s in Path(file).suffixes if s.lower() not in (".gz", ".bz2", ".zst")]
        fmt = FORMATS.get(suffixes[-1].lower() if suffixes else "")
        if fmt is None:
            raise click.ClickException(f"cannot tell the format of {file} from its name; give --format csv|jsonl|json|parquet")
    if (rejects or as_text) and fmt != "csv":
        raise click.ClickException("--rejects and --as-text apply to CSV files only")
    check_output(rejects, "rejects file")
    total = None
    if Path(file).suffix.lower() not in (".gz", ".bz2", ".zst") and fmt not in ("parquet", "json"):
        with open(file, "rb") as f:  # a total for the progress bar, at disk speed
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - (fmt == "csv")
    result = ImportResult()
    with open_existing(path) as store, user_errors():
        check = DryRun(store) if dry_run else None
        try:
            with progress_bar(total=total, desc="checking" if dry_run else "importing", unit="event",
                              enabled=not no_progress) as bar:
                import_file(store, file, fmt=fmt, mapping=dict(maps), stream_type=stream_type,
                            batch_size=batch_size, rejects=rejects, as_text=as_text,
                            dedupe=not allow_duplicates, progress=bar.update, result=result,
                            event_type=event_type, time_format=time_format, dry_run=check, drop=drops)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
            raise ek.InvalidInput(f"cannot read {file}: {str(e).strip() or type(e).__name__}") from None
        except KeyboardInterrupt:
            _echo_interrupted(result, allow_duplicates)
            raise SystemExit(130) from None
    if not result.rows:
        raise click.ClickException(f"{file} holds no rows")
    if check is not None:
        _echo_dry_run(check, result)
        return
    if result.imported:
        click.echo(f"imported {plural(result.imported, 'event')} into {plural(len(result.streams), 'stream')} in "
                   f"{plural(result.appends, 'batch')} (positions {result.first_position:,}..{result.last_position:,})")
    if result.already_stored:
        click.echo(f"{result.already_stored:,} rows already stored by an earlier import (same event ids): skipped"
                   + ("" if allow_duplicates else "; --allow-duplicates imports them again"))
    if result.rejected:
        click.echo(f"{result.rejected:,} rows with cells that do not fit their column's type set aside in {rejects}")
    _echo_missing_text(result)


COMMANDS = [append, import_]
