"""Decimals become DOUBLE only when the float reads back as the same number.

The store has no decimal type: a decimal payload value is stored as a 64-bit float. That is exact
for most decimals people write (``0.10``, ``2.50``, a decimal(38,18) ``0.1``): the float's shortest
form, what every read shows, is the same number. A decimal with more significant digits than a float
holds (``12345678901234567.89``, a decimal(38,18) ``1.123456789012345678``) would read back as another
number, so it is refused up front, on every append path alike.
"""

from __future__ import annotations

import decimal
from typing import Any

from eventkit.common.errors import InvalidInput

_WHAT_TO_DO = ("eventkit stores decimals as 64-bit floats, which hold about 15 significant digits; "
               "store the field as text (str(value); a frame: df[col].astype(str), a Parquet or Arrow column: "
               "cast it to string) or as integer cents")


def refuse_lossy(field_name: str, values: list[Any]) -> InvalidInput:
    """The error for decimals that no float reads back as: the field, a few values, what to do."""
    return InvalidInput(  # InvalidInput shows the values
        f"payload field {field_name!r} holds decimals that would read back as other numbers; {_WHAT_TO_DO}",
        column=field_name, values=values[:5],
    )


def float_of_decimal(field_name: str, value: decimal.Decimal, f: float) -> float:
    """``f`` (``float(value)``, finite) if it reads back as ``value``, else InvalidInput."""
    if decimal.Decimal(repr(f)) != value:
        raise refuse_lossy(field_name, [value])
    return f


def float_column(field_name: str, col: Any) -> Any:
    """A decimal128/256 column as float64, each float the nearest to its decimal, or InvalidInput.

    Vectorised: decimal -> text -> float64 (Arrow's own decimal -> float cast is not always the nearest
    float; parsing the exact text is), then float64 -> text (Arrow writes the shortest form that reads
    back, as Python's repr), compared with the decimal's text less trailing fraction zeros (the same text
    is the same number; Arrow writes floats' exponents with ``e``, decimals' with ``E``, so an exponent
    never matches by accident). Rows whose texts differ are compared as numbers, in a decimal type with
    room for any float text: a float's shortest form has at most 17 significant digits, and a
    decimal(p, s) value is below 10**(p - s) and, unless zero, at least 10**-s, so s + 17 fraction
    digits and one more integer digit than the column (rounding up to a power of ten) always fit.
    """
    import pyarrow as pa  # here, not at the top: envelope.py (and the hot append path) need not load it
    import pyarrow.compute as pc

    text = pc.cast(col, pa.string())
    floats = pc.cast(text, pa.float64())
    float_text = pc.cast(floats, pa.string())
    p, s = col.type.precision, col.type.scale
    if s > 0:
        text = pc.utf8_rtrim(pc.utf8_rtrim(text, "0"), ".")
    differ = pc.invert(pc.fill_null(pc.equal(text, float_text), True))
    if not pc.any(differ).as_py():
        return floats
    col, float_text = col.filter(differ), float_text.filter(differ)
    if p + 18 <= 76:
        wide = pa.decimal256(p + 18, s + 17)
        lossy = pc.invert(pc.equal(pc.cast(col, wide), pc.cast(float_text, wide)))
        if pc.any(lossy).as_py():
            raise refuse_lossy(field_name, col.filter(lossy).slice(0, 5).to_pylist())
        return floats
    # Too wide for the comparison type (decimal256 of precision above 58): value by value.
    bad = [d for d, f in zip(col.to_pylist(), float_text.to_pylist()) if decimal.Decimal(f) != d]
    if bad:
        raise refuse_lossy(field_name, bad)
    return floats
