"""Event ids derived from the rows of an imported file, so that importing it again stores nothing twice.

May use :mod:`eventkit.common` only (and DuckDB for the hashing).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class DerivedIds:
    """Event ids derived from what a file holds, so that importing it again stores nothing twice.

    A row's id is a UUID (version 8 layout) from the MD5 of its content (every cell, as read, with
    its column name, and the stream type given for the import) and of how many rows of identical
    content came before it in the file. So the same rows give the same ids whatever the file is
    called or where it lies; rows appended to the end of the file get new ids (only they import on
    a re-run); two identical rows (two equal deposits on one day) stay two events. A row edited
    in place is a new event: the store is append-only, the old one stays.
    """

    def __init__(self, salt: str = "") -> None:
        import duckdb

        self.salt = salt
        self.con = duckdb.connect()
        # Rows seen so far, by the first 64 bits of their content hash: sorted keys and counts
        # (16 bytes per distinct row). A 64-bit collision only shifts an occurrence number, which
        # is as deterministic as the rest, so re-runs still agree.
        self.keys = np.empty(0, dtype=np.uint64)
        self.counts = np.empty(0, dtype=np.int64)

    def close(self) -> None:
        self.con.close()

    def ids(self, content: pa.Table) -> pa.Array:
        """The ids of ``content``'s rows, in order; later calls continue the same file."""
        import hashlib

        self.con.register("_raw", content)
        hashed = self.con.sql(
            "SELECT h, ('0x' || substr(h, 1, 16))::UBIGINT AS k FROM (SELECT md5(to_json(t) || ?) AS h FROM _raw t)",
            params=[self.salt],
        ).to_arrow_table()
        self.con.unregister("_raw")
        digest = hashed.column("h").combine_chunks()
        occurrence = self._occurrences(hashed.column("k").to_numpy())
        if occurrence.any():  # the 2nd, 3rd ... row of identical content: hash in its number
            values = digest.to_pylist()
            for i in np.flatnonzero(occurrence):
                values[i] = hashlib.md5(f"{values[i]}#{occurrence[i]}".encode()).hexdigest()
            digest = pa.array(values, pa.string())
        # 8-4-4-4-12 hex with the version nibble 8 and variant nibble 9.
        cut = [pc.utf8_slice_codeunits(digest, a, b) for a, b in ((0, 8), (8, 12), (13, 16), (17, 20), (20, 32))]
        return pc.binary_join_element_wise(cut[0], cut[1], pc.binary_join_element_wise("8", cut[2], ""),
                                           pc.binary_join_element_wise("9", cut[3], ""), cut[4], "-")

    def _occurrences(self, keys: np.ndarray) -> np.ndarray:
        """For each key: how many equal keys came before it (earlier batches, then this one)."""
        n = len(keys)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - first
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            rank += np.where(self.keys[at] == keys, self.counts[at], 0)
        unique, counts = ordered[starts], np.diff(np.append(np.flatnonzero(starts), n))
        keys, tally = np.concatenate([self.keys, unique]), np.concatenate([self.counts, counts])
        merge = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
        keys, tally = keys[merge], tally[merge]
        first_of = np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))
        self.keys, self.counts = keys[first_of], np.add.reduceat(tally, first_of)
        return rank


def numbers_as_one_text(raw: pa.Table) -> pa.Table:
    """Numbers in one text form whatever type a batch gave them (10 and 10.0 both ``n:10``), exact
    for every BIGINT (a cast to DOUBLE would fail or round past 2**53): what row ids are hashed from."""
    cols = []
    for f, col in zip(raw.schema, raw.columns):
        if pa.types.is_integer(f.type):
            col = pc.binary_join_element_wise("n:", pc.cast(col, pa.string()), "")
        elif pa.types.is_floating(f.type):
            whole = pc.fill_null(pc.and_(pc.equal(pc.floor(col), col), pc.less(pc.abs(col), 2.0**63)), False)
            as_int = pc.cast(pc.if_else(whole, col, 0.0), pa.int64())
            text = pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(col, pa.string()))
            col = pc.binary_join_element_wise("n:", text, "")
        cols.append(col)
    return pa.table(cols, names=raw.column_names)
