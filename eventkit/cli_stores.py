"""Where the command line finds a store: the folder, and (for a shared store) its catalog and files.

A store kept in one folder needs only its path. A shared store (README, "Sharing a store") keeps its
catalog in PostgreSQL and its segment files in a bucket; every command then needs to be told so, the
way every process of the library is: ``eventkit --catalog postgresql://... --files s3://... info
FOLDER``, or once per shell with ``EVENTKIT_CATALOG`` and ``EVENTKIT_FILES``. The URL is not written
into the folder: it may carry a password, and each host has its own folder.

Every command opens its store through :func:`open_existing` (or :func:`open_or_create` for
``init``), so the three ways of being wrong — a typo in the folder, a catalog that holds no store,
a bad URL — read the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import click

import eventkit as ek

CATALOG_ENV = "EVENTKIT_CATALOG"
FILES_ENV = "EVENTKIT_FILES"


@dataclass(frozen=True)
class StoreLocation:
    """The ``--catalog`` and ``--files`` given to the ``eventkit`` group (None: in the folder)."""

    catalog: str | None = None
    files: str | None = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`eventkit.open_store`."""
        return {"catalog": self.catalog or None, "files": self.files or None}

    def describe(self) -> str:
        """What to add to an error message so the user sees which catalog was asked."""
        return f" (catalog {redact(self.catalog)})" if self.catalog else ""


def location_options(command: Callable) -> Callable:
    """The ``--catalog`` / ``--files`` options of the ``eventkit`` group."""
    command = click.option(
        "--files", envvar=FILES_ENV, metavar="URL",
        help=f"Where a shared store's segment files live, e.g. s3://bucket/prefix (env {FILES_ENV}); "
             "default: the store folder.")(command)
    return click.option(
        "--catalog", envvar=CATALOG_ENV, metavar="URL",
        help=f"A shared store's catalog, a postgresql:// URL (env {CATALOG_ENV}); "
             "default: catalog.sqlite in the store folder.")(command)


def current_location() -> StoreLocation:
    """The location options of the running command line (empty outside one, e.g. in tests)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, StoreLocation) else StoreLocation()


def open_existing(path: str) -> ek.Store:
    """The store at ``path`` (with the group's catalog and files); a missing store is an error.

    Outside ``init`` a typo (or an empty folder) must not make a stray store: ``create=False``.
    """
    where = current_location()
    try:
        return ek.open_store(path, create=False, **where.options())
    except ek.StoreError as e:
        hint = ""
        if str(e).startswith("no eventkit store"):
            init = f"eventkit --catalog URL init {path}" if where.catalog else f"eventkit init {path}"
            hint = f"; create one with: {init}"
        message = _first_line(e)
        named = "" if "catalog" in message else where.describe()  # the catalog's own errors name it already
        raise click.ClickException(f"{message}{named}{hint}") from None
    except ek.EventKitError as e:  # a malformed catalog or files URL
        raise click.ClickException(_first_line(e)) from None


def open_or_create(path: str) -> ek.Store:
    """The store at ``path``, created (with the group's catalog and files) when missing."""
    try:
        return ek.open_store(path, **current_location().options())
    except ek.EventKitError as e:
        raise click.ClickException(_first_line(e)) from None


def redact(url: str | None) -> str:
    """``url`` without its password, for messages (``postgresql://user:***@host/db``)."""
    if not url or "@" not in url or "://" not in url:
        return url or ""
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in credentials else ''}@{host}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
