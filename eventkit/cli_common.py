"""What every ``eventkit`` command shares: errors as one line, the output choice, times or positions."""

from __future__ import annotations

import contextlib
from typing import Iterator

import click

from eventkit.common.errors import EventKitError

#: ``--format`` of the commands that print rows.
OUTPUT = click.Choice(["table", "csv", "json"])


@contextlib.contextmanager
def user_errors(*also: type[BaseException], context: str = "") -> Iterator[None]:
    """Turn the library's errors (and ``also``) into one clean line and exit status 1."""
    try:
        yield
    except (EventKitError, *also) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise click.ClickException(f"{context}{first}") from None  # DuckDB adds caret lines; keep one


def parse_known_at(value: str | None) -> int | str | None:
    """``--known-at``: a position (digits) or an ISO time."""
    return int(value) if value is not None and value.strip().isdigit() else value


def plural(count: int, word: str) -> str:
    """``"1 event"``, ``"3 events"``, ``"2 batches"``."""
    return f"{count:,} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"
