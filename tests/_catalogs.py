"""The catalog implementations the contract suites run against, by name.

``make_catalog(kind, tmp_path)`` returns a new, empty catalog of that kind; ``store_catalog(kind)``
the ``catalog=`` argument that gives a new store one. A kind whose server cannot be started is
skipped with the reason (CI starts every server, so there it runs).
"""

from __future__ import annotations

from pathlib import Path

from eventkit.store.catalog import Catalog
from eventkit.store.catalog_interface import CatalogBackend

#: Every catalog implementation; a second one is added here and every contract test runs it.
CATALOG_KINDS = ["sqlite"]


def make_catalog(kind: str, tmp_path: Path) -> CatalogBackend:
    if kind == "sqlite":
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "catalog.sqlite"
        if not path.exists():
            Catalog.create(path)
        return Catalog(path)
    raise ValueError(kind)


def store_catalog(kind: str) -> str | None:
    """The ``catalog=`` argument of ``ek.open_store`` for a new store of this kind."""
    if kind == "sqlite":
        return None
    raise ValueError(kind)
