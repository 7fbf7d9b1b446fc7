"""The catalog implementations the contract suites run against, by name.

``make_catalog(kind, tmp_path, request)`` returns a new, empty catalog of that kind;
``store_catalog(kind, request)`` the ``catalog=`` argument that gives a new store its own empty
catalog. A PostgreSQL catalog gets a schema of its own in the session's throwaway cluster (the
``postgres_url`` fixture in ``conftest.py``); when that cluster cannot be started the test is skipped
with the reason (CI sets ``EVENTKIT_REQUIRE_POSTGRES=1``, which makes that an error instead).
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from eventkit.store.catalog import Catalog
from eventkit.store.catalog_interface import CatalogBackend

#: Every catalog implementation; a new one is added here and every contract test runs it.
CATALOG_KINDS = ["sqlite", "postgresql"]
#: The same as pytest parameters: tests needing a server carry its marker (``pytest -m "not postgresql"``).
CATALOG_PARAMS = [pytest.param(k, marks=[pytest.mark.postgresql]) if k == "postgresql" else k for k in CATALOG_KINDS]


def store_catalog(kind: str, request: pytest.FixtureRequest) -> str | None:
    """The ``catalog=`` argument of ``ek.open_store`` for a new store with an empty catalog of this kind."""
    if kind == "sqlite":
        return None
    if kind == "postgresql":
        pytest.importorskip("psycopg", reason="the PostgreSQL catalog needs psycopg: pip install 'eventkit[postgresql]'")
        url = request.getfixturevalue("postgres_url")
        return f"{url}?schema=t_{uuid.uuid4().hex[:16]}"
    raise ValueError(kind)


@pytest.fixture(params=CATALOG_PARAMS)
def any_catalog(request: pytest.FixtureRequest) -> str | None:
    """The ``catalog=`` argument for a new store, once per catalog kind (import it into a test module to use it)."""
    return store_catalog(request.param, request)


def catalog_sql(folder: Path, catalog: str | None, sql: str, params: tuple | list = ()) -> list[tuple]:
    """Run one statement straight on a store's catalog, past eventkit (as an attacker or an older
    eventkit would), committed; its rows. ``?`` placeholders work for both catalogs."""
    if catalog is None:
        with closing(sqlite3.connect(Path(folder) / "catalog.sqlite")) as db:
            with db:
                return db.execute(sql, params).fetchall()
    import psycopg

    from eventkit.store.postgres_catalog_setup import split_url

    conninfo, schema = split_url(catalog)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def make_catalog(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> CatalogBackend:
    if kind == "sqlite":
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "catalog.sqlite"
        if not path.exists():
            Catalog.create(path)
        return Catalog(path)
    if kind == "postgresql":
        from eventkit.store.postgres_catalog import PostgresCatalog

        return PostgresCatalog.open(store_catalog(kind, request))
    raise ValueError(kind)


def stored_bytes(catalog: CatalogBackend) -> bytes:
    """Every byte the catalog's own storage holds now, for "is this value still anywhere" checks.

    SQLite: the catalog file (after a checkpoint folds the WAL into it). PostgreSQL: the files of every
    table, index and TOAST table of the catalog's schema, read through the server after a CHECKPOINT
    writes its buffers out (needs a superuser, as in the test cluster).
    """
    if isinstance(catalog, Catalog):
        catalog.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(catalog.path).read_bytes()
    import psycopg

    with psycopg.connect(catalog._conninfo, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        files = [r[0] for r in conn.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN (%s, 'pg_toast') AND pg_relation_filepath(c.oid) IS NOT NULL "
            "AND (n.nspname = %s OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = %s)))", (catalog.schema, catalog.schema, catalog.schema))]
        out = []
        for f in files:
            size = conn.execute("SELECT pg_stat_file(%s, true)", (f,)).fetchone()[0]
            if size is not None:
                out.append(conn.execute("SELECT pg_read_binary_file(%s)", (f,)).fetchone()[0])
        return b"".join(out)
