"""What every ``eventkit`` command shares: errors as one line, the output choice, times or positions."""

from __future__ import annotations

import contextlib
from pathlib import Path
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
    # isdecimal, not isdigit: "²" is a digit that int() refuses; it is then reported as not a time.
    return int(value) if value is not None and value.strip().isdecimal() else value


def plural(count: int, word: str) -> str:
    """``"1 event"``, ``"3 events"``, ``"2 batches"``."""
    return f"{count:,} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"


def _store_folder(file: str) -> Path | None:
    """The eventkit store folder (one holding ``catalog.sqlite``) that ``file`` would lie in, if any."""
    where = Path(file).expanduser().resolve().parent
    return next((d for d in (where, *where.parents) if (d / "catalog.sqlite").is_file()), None)


def check_output(out: str | None, what: str, *, make_folder: bool = False) -> None:
    """Refuse, before any work, to write ``out`` inside a store (it could overwrite the store's own files,
    and a checkpoint or key kept in the store proves nothing about it) or, unless the caller makes
    missing folders, where no folder exists."""
    if out is None:
        return
    store = _store_folder(out)
    if store is not None:
        raise click.ClickException(f"{out} lies in the store at {store}: write the {what} outside the store "
                                   "(a file there could overwrite the store's own, and the store cannot vouch for itself)")
    if not make_folder and not Path(out).expanduser().resolve().parent.is_dir():
        raise click.ClickException(f"cannot write {out}: no such folder {Path(out).parent}")
