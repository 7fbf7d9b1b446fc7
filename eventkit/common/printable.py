"""Text for a terminal: stored values may hold control characters (ESC sequences recolour, clear or retitle
a terminal; CR overwrites a line; a newline fakes a line of a report; bidi overrides reorder what is
shown). Human-readable output shows them escaped; data formats (CSV, JSON, Parquet) keep them exact."""

from __future__ import annotations

from typing import Any

_BIDI = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({c: f"\\u{c:04x}" for c in _BIDI})
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def printable(text: str) -> str:
    """``text`` with control and bidi-override characters written as escapes (``\\x1b``, ``\\n``)."""
    return text.translate(_ESCAPES)


def printable_cell(value: Any) -> Any:
    """A table cell for the terminal: text (or a struct/dict shown as text) escaped; others unchanged."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, (dict, list, tuple)):
        return printable(str(value))
    return value
