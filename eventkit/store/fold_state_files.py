"""Persisted fold states: a fold's per-stream partial results at a position, kept in the store.

The store layer owns where they live: ``<store>/fold_states/<fingerprint>/<position>-<id>.parquet``,
recorded in the catalog's ``fold_states`` table. As with segments, the file is written first and
recorded second, so a crash leaves either no state or a whole one; what a state *means* is the
fold layer's business (see ``_persisted``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# The Store facade (eventkit.store.event_store) passes itself in. It is not imported: it sits above this
# module in the store layer and imports point down.
Store = Any

STATES_DIR = "fold_states"


@dataclass(frozen=True)
class FoldState:
    """A saved fold state: ``fingerprint`` names the fold definition, ``position`` the cut."""

    fold: str
    fingerprint: str
    position: int
    max_occurred: int | None
    streams: int
    path: str


def save(store: Store, *, fold: str, fingerprint: str, position: int, max_occurred: int | None,
         table: pa.Table, erasures: int | None = None) -> FoldState | None:
    """Write ``table`` as the state of ``fingerprint`` at ``position`` (replacing an older save).

    Args:
        erasures: The store's erasure count when the state was computed (a store with personal fields).
            If an erasure committed since, the state may hold what it erased: it is not recorded, its
            file is deleted, and None is returned (compute it again). An erasure committing after the
            record drops it, as it drops every saved state (:func:`eventkit.store.shredding.forget`).
    """
    rel = f"{STATES_DIR}/{fingerprint}/{position:012d}-{uuid.uuid4().hex[:12]}.parquet"
    files = store.files
    files.write_once(rel, lambda local: pq.write_table(table, local, compression="zstd"))
    try:
        with store._catalog.write() as tx:
            if erasures is not None and store._catalog.personal_state(tx)[1] != erasures:
                old, rel_kept = None, None
            else:
                old, rel_kept = store._catalog.save_fold_state(
                    tx, fold=fold, fingerprint=fingerprint, position=position, max_occurred=max_occurred,
                    streams=table.num_rows, path=rel), rel
    except BaseException:
        files.delete(rel)
        raise
    if rel_kept is None:
        files.delete(rel)
        return None
    if old is not None:
        files.delete(old)
    return FoldState(fold, fingerprint, position, max_occurred, table.num_rows, rel)


def newest(store: Store, fingerprint: str, *, upto: int, as_of: int | None) -> FoldState | None:
    """The newest saved state of ``fingerprint`` usable for a fold cut at ``upto`` / ``as_of``.

    Usable: saved at a position at or before ``upto`` and, when valid time is cut, holding no
    event that occurred after ``as_of`` (micros).
    """
    with store._catalog.read() as tx:
        row = store._catalog.newest_fold_state(tx, fingerprint, upto=upto, as_of=as_of)
    if row is None or not store.files.exists(row[5]):
        return None
    return FoldState(*row)


def listing(store: Store) -> pd.DataFrame:
    with store._catalog.read() as tx:
        rows = store._catalog.fold_states(tx)
    df = pd.DataFrame(rows, columns=["fold", "fingerprint", "position", "streams", "created_at", "path"])
    df["created_at"] = pd.to_datetime(df["created_at"], unit="s", utc=True)
    return df
