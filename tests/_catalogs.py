"""The catalog implementations the contract suites run against, by name.

``make_catalog(kind, tmp_path, request)`` returns a new, empty catalog of that kind;
``store_catalog(kind, request)`` the ``catalog=`` argument that gives a new store its own empty
catalog. A PostgreSQL catalog gets a schema of its own in the session's throwaway cluster (the
``postgres_url`` fixture in ``conftest.py``); when that cluster cannot be started the test is skipped
with the reason (CI sets ``EVENTKIT_REQUIRE_POSTGRES=1``, which makes that an error instead).
"""

from __future__ import annotations

import uuid
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
