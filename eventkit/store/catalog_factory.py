"""Which catalog a store uses: the one place that names the catalog implementations.

``ek.open_store(location)`` keeps its catalog in ``catalog.sqlite`` in the store folder;
``ek.open_store(location, catalog="postgresql://...")`` keeps it in a PostgreSQL database; a
:class:`~eventkit.store.catalog_interface.CatalogBackend` object is used as it is. The store
above never constructs a catalog class by name.

May use :mod:`eventkit.common` and the catalog modules (:mod:`.catalog`, :mod:`.catalog_interface`,
:mod:`.postgres_catalog`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from eventkit.common.errors import InvalidInput, StoreError
from eventkit.store.catalog import CATALOG_NAME, NEW_CATALOG_PREFIX, Catalog
from eventkit.store.catalog_interface import CatalogBackend

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_catalog(root: Path, catalog: Any = None, *, durability: str = "normal", create: bool = True) -> CatalogBackend:
    """The catalog of the store at ``root``, created when missing (unless ``create=False``).

    Args:
        root: The store's folder (a local path).
        catalog: None (``catalog.sqlite`` in ``root``), a ``postgresql://`` URL, or a catalog object.
        durability: ``"normal"`` or ``"full"`` (see :class:`eventkit.store.event_store.Store`).
        create: False: refuse (StoreError) to make a new store.
    """
    if catalog is None:
        return _sqlite_catalog(root, durability=durability, create=create)
    if isinstance(catalog, str) and catalog.startswith(POSTGRES_SCHEMES):
        from eventkit.store.postgres_catalog import PostgresCatalog

        return PostgresCatalog.open(catalog, durability=durability, create=create)
    if isinstance(catalog, CatalogBackend):
        return catalog
    raise InvalidInput(
        f"catalog must be None (catalog.sqlite in the store folder), a postgresql:// URL or a catalog "
        f"object, not {catalog!r}", column="catalog", values=[catalog],
    )


def _sqlite_catalog(root: Path, *, durability: str, create: bool) -> Catalog:
    catalog_path = root / CATALOG_NAME
    if not catalog_path.exists():
        if not create:
            raise StoreError(f"no eventkit store at {root}{_nearby_stores(root)}")
        others = [p.name for p in root.iterdir()] if root.exists() else []
        others = [n for n in others if n != ".DS_Store" and not n.startswith(NEW_CATALOG_PREFIX)]
        # Re-checked after the listing: another process may have just created the store.
        if others and not catalog_path.exists():
            raise StoreError(f"{root} is a non-empty folder without {CATALOG_NAME}: not an eventkit store")
        # A store inside another store's folder: the outer store's gc deletes the files it does not know.
        outer = next((d for d in root.resolve().parents if (d / CATALOG_NAME).is_file()), None)
        if outer is not None:
            raise StoreError(f"{root} lies inside the store at {outer}: make the new store outside it (the outer "
                             "store's clean-up would delete the new store's files as files it does not know)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            Catalog.create(catalog_path)
        except OSError as e:  # a read-only file system, no permission, a full disk
            raise StoreError(f"cannot create a store at {root}: {e.strerror or e}") from e
    return Catalog(catalog_path, durability=durability)


def _nearby_stores(root: Path) -> str:
    """``" (did you mean ...?)"`` naming a store next to ``root`` with a close name, if any."""
    try:
        siblings = [p.name for p in root.resolve().parent.iterdir() if (p / CATALOG_NAME).is_file()]
    except OSError:
        return ""
    close = difflib.get_close_matches(root.name, siblings, n=1, cutoff=0.6)
    return f" (did you mean {str(root.parent / close[0])!r}?)" if close else ""
