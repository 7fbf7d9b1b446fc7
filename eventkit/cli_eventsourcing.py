"""The ``eventkit import-eventsourcing`` command: a thin skin over :mod:`eventkit.interop.import_eventsourcing`."""

from __future__ import annotations

import click

from eventkit.interop.import_eventsourcing import import_eventsourcing as run
from eventkit.cli_common import user_errors
from eventkit.cli_stores import open_existing


@click.command(name="import-eventsourcing")
@click.argument("path")
@click.argument("database", type=click.Path(exists=True, dir_okay=False))
@click.option("--table", default="stored_events", show_default=True,
              help="The application's events table (named tables: <name>_events).")
@click.option("--consumer", default="eventsourcing-import", show_default=True,
              help="Checkpoint name remembering how far earlier runs got (one per source database).")
@click.option("--stream-type", default="eventsourcing", show_default=True, help="Stream type of imported streams.")
@click.option("--decode", is_flag=True,
              help="Also read JSON states: their timestamp as occurred_at, top-level values as typed fields.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Notifications per transaction.")
def import_eventsourcing(path: str, database: str, table: str, consumer: str, stream_type: str, decode: bool,
                         batch_size: int) -> None:
    """Import an eventsourcing application's SQLite DATABASE into the store at PATH.

    Incremental: a re-run imports only the notifications recorded since the last run (the
    position is the checkpoint --consumer, committed with each batch). Each aggregate becomes a
    stream (originator id), version = originator_version + 1, event_type = topic, and the stored
    state is the BLOB field `state`.

    \b
    Example:
      eventkit init data/bank
      eventkit import-eventsourcing data/bank bank.sqlite --decode
      eventkit sql data/bank "SELECT event_type, count(*) FROM events GROUP BY 1"
    """
    with open_existing(path) as store:  # like every command but `init`: a typo is an error, not a new store
        with user_errors():
            result = run(store, database, table=table, consumer=consumer, stream_type=stream_type,
                         decode=decode, batch_size=batch_size)
        click.echo(f"imported {result.events:,} events (notifications up to {result.last_notification:,}); "
                   f"the store holds {store.head:,} events")
        if result.left_out:
            click.echo("decoded values left out (their type or the case of their name differs from the field's, "
                       "or their text is not UTF-8; each event's state still holds them): "
                       + ", ".join(f"{name} ({n:,})" for name, n in result.left_out.items()))
