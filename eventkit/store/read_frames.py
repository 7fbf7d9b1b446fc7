"""The read path's last step: a snapshot query turned into the frame or table ``read_stream`` and ``read_all``
return, with the payload struct flattened into one column per field.

May use :mod:`eventkit.common` and :mod:`.read_snapshot`.
"""

from __future__ import annotations

from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from eventkit.common.errors import InvalidInput
from eventkit.store.read_snapshot import ENVELOPE_SELECT, Snapshot

Output = Literal["pandas", "arrow"]


def flat_query(snap: Snapshot, where: list[str], params: list[Any], order: str, limit: int | None, output: Output) -> Any:
    con = snap.prepare()
    try:
        # The payload struct is flattened in Arrow, not with one data."f" per field in SQL: DuckDB
        # plans thousands of struct extractions slowly (5,000 fields: seconds for two events).
        select = f"SELECT {ENVELOPE_SELECT}{snap.extra_columns}, metadata{', data' if snap.fields else ''} FROM ({snap.events_sql()}) AS events"
        if where:
            select += " WHERE " + " AND ".join(where)
        # DuckDB sorts rows carrying a struct of thousands of fields slowly; Arrow sorts by the
        # key and takes rows cheaply. A LIMIT needs the order first, so it stays in SQL.
        sort_in_arrow = limit is None and len(snap.fields) > WIDE_FIELDS
        if not sort_in_arrow:
            select += f" ORDER BY {order}"
        if limit is not None:
            select += f" LIMIT {int(limit)}"
        if output not in ("pandas", "arrow"):
            raise InvalidInput(f"output must be 'pandas', 'arrow' or 'records', not {output!r}", values=[output])
        try:
            table = con.sql(select, params=params or None).to_arrow_table()
            if sort_in_arrow:
                key, _, direction = order.partition(" ")
                indices = pa.compute.sort_indices(
                    table.column(key), sort_keys=[("", "descending" if direction.upper() == "DESC" else "ascending")])
                if not pa.compute.all(pa.compute.equal(indices, pa.array(range(len(indices)), pa.uint64()))).as_py():
                    table = table.take(indices)  # already in order (the common case): no copy
            table = flatten_payload(table, list(snap.fields))
            return table if output == "arrow" else to_pandas(con, table, snap.fields)
        except duckdb.Error as e:
            explained = snap.explain(e)
            if explained is e:
                raise
            raise explained from e
    finally:
        con.close()


WIDE_FIELDS = 200  # payload fields past which the read path takes the steps DuckDB does slowly itself


def to_pandas(con: duckdb.DuckDBPyConnection, table: pa.Table, fields: dict[str, str]) -> Any:
    """``table`` as a DataFrame (see :func:`_to_pandas`), ``erased_fields`` as tuples (:func:`erased_tuples`)."""
    if "erased_fields" not in table.column_names:
        return _to_pandas(con, table, fields)
    at = table.column_names.index("erased_fields")
    frame = _to_pandas(con, table.remove_column(at), fields)
    frame.insert(at, "erased_fields", erased_tuples(table.column(at)))
    return frame


def erased_tuples(column: Any) -> Any:
    """A list column of field names as a numpy object array of tuples, one tuple per distinct list shared
    by its rows: DuckDB's conversion builds an array per row (0.5 µs a row, most of a wide read's cost)."""
    import numpy as np

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    joined = pa.compute.binary_join(column, "\x1f").dictionary_encode()
    combos = np.empty(len(joined.dictionary), object)
    for i, names in enumerate(joined.dictionary.to_pylist()):  # one by one: numpy would unpack equal-length tuples
        combos[i] = tuple(names.split("\x1f")) if names else ()
    out = np.empty(len(column), object)
    valid = np.asarray(joined.indices.is_valid())
    out[valid] = combos[joined.indices.drop_null().to_numpy()]
    out[~valid] = None
    return out


def _to_pandas(con: duckdb.DuckDBPyConnection, table: pa.Table, fields: dict[str, str]) -> Any:
    """``table`` as a DataFrame with DuckDB's conversions (nullable Int64, naive dates, ...).

    DuckDB's ``.df()`` costs about a tenth of a millisecond per column; with thousands of payload
    fields that is most of a small read. Past ``WIDE_FIELDS`` fields the payload columns (whose types
    are the store's scalar types) are converted by pyarrow, a few groups at a time, with DuckDB's
    rules; a test holds both conversions equal.
    """
    import numpy as np
    import pandas as pd

    kinds = {"BIGINT", "BOOLEAN", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMPTZ"}
    if len(fields) <= WIDE_FIELDS or not set(fields.values()) <= kinds:
        return _bytes_as_bytes(con.from_arrow(table).df(), table, fields)
    first = table.num_columns - len(fields)
    envelope = con.from_arrow(table.select(list(range(first)))).df()
    names = list(fields)
    plain, ints, bools, empty_text = [], [], [], []
    for name, col in zip(names, table.columns[first:]):
        kind, nulls = fields[name], col.null_count
        if kind == "VARCHAR" and nulls == len(col):
            empty_text.append(name)  # DuckDB: an object column of None
        elif kind == "BIGINT" and nulls:
            ints.append((name, col))  # DuckDB: nullable Int64
        elif kind == "BOOLEAN" and nulls:
            bools.append((name, col))  # DuckDB: nullable boolean
        else:
            plain.append((name, col.cast(pa.timestamp("us")) if kind == "DATE" else col))  # dates: naive datetime64[us]
    parts = [envelope]
    for group, mapper in ((plain, None), (ints, {pa.int64(): pd.Int64Dtype()}.get),
                          (bools, {pa.bool_(): pd.BooleanDtype()}.get)):
        if group:
            frame = pa.Table.from_arrays([c for _, c in group], names=[n for n, _ in group]).to_pandas(types_mapper=mapper)
            parts.append(frame.set_axis(envelope.index))
    if empty_text:
        parts.append(pd.DataFrame(np.full((len(envelope), len(empty_text)), None, dtype=object),
                                  columns=empty_text, index=envelope.index))
    out = pd.concat(parts, axis=1)
    return out[list(envelope.columns) + names] if len(parts) > 2 else out


def _bytes_as_bytes(frame: Any, table: pa.Table, fields: dict[str, str]) -> Any:
    """BLOB payload columns hold ``bytes`` (DuckDB's frames give ``bytearray``): what was appended reads back."""
    for name, kind in fields.items():
        if kind == "BLOB" and name in frame.columns:
            frame[name] = table.column(name).to_pandas(types_mapper=None).to_numpy(dtype=object)
    return frame


def flatten_payload(table: pa.Table, fields: list[str]) -> pa.Table:
    """Replace the ``data`` struct column by one column per payload field, in ``fields`` order."""
    if "data" not in table.column_names:
        return table
    struct = table.schema.field("data").type
    flat = [chunk.flatten() for chunk in table.column("data").chunks]  # flatten() applies the struct's nulls
    index = {struct.field(i).name: i for i in range(struct.num_fields)}
    rest = table.drop_columns(["data"])
    columns = list(rest.columns) + [
        pa.chunked_array([c[index[name]] for c in flat], type=struct.field(index[name]).type) for name in fields
    ]
    return pa.Table.from_arrays(columns, names=rest.column_names + fields)  # built once: no per-field copies
