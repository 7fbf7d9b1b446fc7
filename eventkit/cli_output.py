"""The command line's output: CSV and JSON you can paste, exact and readable, and a quick look at rows.

DuckDB hands whole-number results such as ``sum(BIGINT)`` to pandas as floats (``93.0``); structs,
maps and lists become Python reprs in CSV (``{'amount': 10.0}``); pandas' JSON escapes ``/``. Here
whole-number columns stay integers (exact text past BIGINT's range), nested values are written as
JSON text in CSV cells and as JSON in JSON (or, flattened, one column per struct field:
``data.amount``), and slashes stay as they are. Used by the command line.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from pathlib import Path
from typing import Any

import click

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from eventkit.cli_common import check_output, user_errors
from eventkit.common.csv_text import csv_text
from eventkit.common.printable import printable_cell

__all__ = ["echo_frame", "relation_frame", "select_rows", "to_csv", "to_json", "write_frame"]


def relation_frame(relation: duckdb.DuckDBPyRelation, *, flatten: bool = False) -> pd.DataFrame:
    """A DuckDB relation as a DataFrame, with whole-number columns kept whole.

    ``HUGEINT`` and ``DECIMAL(p, 0)`` results (what ``sum`` and ``count`` over integers give) come
    out as integers when they fit BIGINT and as exact text otherwise; every other column is
    converted exactly as DuckDB's own ``.df()`` does. The query runs once.

    With ``flatten``, struct columns become one column per field, named by their path
    (``data`` -> ``data.amount``, ``data.note``; nested structs all the way down); maps and lists
    stay whole (JSON text in CSV).
    """
    table = relation.to_arrow_table()
    while flatten and any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()  # one level per pass: data.address -> data.address.city
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_decimal(field.type) and field.type.scale == 0:
            try:
                column = column.cast(pa.int64())
            except (pa.ArrowInvalid, OverflowError):
                column = column.cast(pa.string())
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=table.column_names)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.from_arrow(table).df()
    finally:
        con.close()


def select_rows(df: pd.DataFrame, *, where: str | None = None, sort: str | None = None,
                limit: int | None = None) -> pd.DataFrame:
    """A quick look at a result: rows matching a SQL condition, sorted, the first ``limit``.

    Args:
        df: The rows (a fold's state or series).
        where: A DuckDB SQL condition over its columns (``"balance > 1000 AND status = 'open'"``);
            the user's own text, as in ``eventkit sql``.
        sort: Column names separated by commas; a leading ``-`` sorts that column descending.
        limit: At most this many rows.
    """
    if where is None and not sort and limit is None:
        return df
    from eventkit.common.sql import quote_ident

    query = "SELECT * FROM _rows"
    if where:
        query += f" WHERE {where}"
    if sort:
        keys = [k.strip() for k in sort.split(",") if k.strip()]
        query += " ORDER BY " + ", ".join(
            f"{quote_ident(k[1:].strip())} DESC NULLS LAST" if k.startswith("-") else f"{quote_ident(k)} ASC NULLS LAST"
            for k in keys)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_rows", df)
        return con.sql(query).df()
    finally:
        con.close()


def _plain(value: Any) -> Any:
    """A value as JSON can hold it (numpy scalars and arrays, times, decimals, NaN as null)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity (as pandas writes them)
    if value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _json_text(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple, np.ndarray)):
        return json.dumps(_plain(value), ensure_ascii=False, allow_nan=False, default=str)
    return value


def to_csv(df: pd.DataFrame) -> str:
    """CSV with nested values (structs, maps, lists) as JSON text, one cell each."""
    out = df.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = out[name].map(_json_text)
    return csv_text(out)  # empty text as "", a missing value as an empty field


def to_json(df: pd.DataFrame) -> str:
    """A JSON array of row objects: nested values as JSON, times in ISO 8601, ``/`` unescaped.

    NaN and infinities are written as null: JSON has no number for them.
    """
    rows = [{str(k): _plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
    return json.dumps(rows, ensure_ascii=False, allow_nan=False, default=str)


# -- printing and writing rows -----------------------------------------------------------------


def echo_frame(df: pd.DataFrame, fmt: str, max_rows: int = 0) -> None:
    """Print ``df`` as a table (at most ``max_rows``; 0: all), CSV or JSON."""
    if fmt == "csv":
        click.echo(to_csv(df), nl=False)
    elif fmt == "json":
        click.echo(to_json(df))
    elif df.empty:
        click.echo("(no rows)")
    else:
        shown = df.head(max_rows or len(df))
        text = [c for c in shown.columns if shown[c].dtype == object or pd.api.types.is_string_dtype(shown[c])]
        if text:  # stored text may hold terminal commands (ESC sequences, CR): shown escaped
            shown = shown.assign(**{c: shown[c].map(printable_cell) for c in text})
        click.echo(shown.to_string(index=False))
        if max_rows and len(df) > max_rows:
            click.echo(f"({len(df):,} rows; showing the first {max_rows:,}; --max-rows 0 shows all)")


def write_frame(df: pd.DataFrame, output: str | None, fmt: str, max_rows: int) -> None:
    """Write ``df`` to ``output`` (.csv, .tsv or .parquet) or print it."""
    if output is None:
        echo_frame(df, fmt, max_rows)
        return
    check_output(output, "rows", make_folder=True)
    suffix = Path(output).suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise click.ClickException(f"cannot tell the format of {output} from its name; use .csv, .tsv or .parquet")
    with user_errors(OSError, pa.ArrowException, context=f"cannot write {output}: "):
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".parquet", ".pq"):
            df.to_parquet(output, index=False)
        else:
            csv_text(df, output, sep="\t" if suffix == ".tsv" else ",")  # empty text as "", missing as empty
    click.echo(f"wrote {len(df):,} rows to {output}")
