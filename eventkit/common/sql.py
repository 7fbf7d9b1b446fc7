"""Quoting for the SQL text eventkit builds: the one place names and values become SQL.

eventkit passes values as bound parameters wherever DuckDB and SQLite allow it. Where SQL text
must hold a name or a value (a file path in ``read_parquet`` or ``COPY ... TO``, a payload field
name, a constant in a fold), it goes through these functions, so a path holding ``'`` or a field
holding ``"`` can neither break a query nor change what it does.
"""

from __future__ import annotations

import math

from eventkit.common.errors import InvalidInput


def quote_ident(name: str) -> str:
    """A SQL identifier (a column or field name), quoted for DuckDB; a ``"`` inside is doubled.

    Example:
        >>> quote_ident("my field")
        '"my field"'
    """
    _refuse_nul(name, "name")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A SQL string literal (text, a file path), quoted for DuckDB.

    Example:
        >>> quote_literal("/data/it's/store")
        "'/data/it''s/store'"
    """
    _refuse_nul(value, "text")
    return "'" + value.replace("'", "''") + "'"


def double_literal(value: float) -> str:
    """A DOUBLE constant; inf and nan, which have no numeric literal, as casts of text."""
    return f"{value!r}::DOUBLE" if math.isfinite(value) else f"'{value!r}'::DOUBLE"


def _refuse_nul(text: str, what: str) -> None:
    # DuckDB's parser reads SQL text as a C string: a NUL would end the query there.
    if "\x00" in text:
        raise InvalidInput(f"a {what} in SQL cannot hold a NUL character (\\x00)", values=[text])
