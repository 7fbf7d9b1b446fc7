"""Small helpers for a report config's keys, used by the checker and the runner alike: lists,
values, sort keys, TOML dates, the CSV files an entry writes, and the line a key is set on.

May use the standard library only.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any


def table_files(section: str, name: str, spec: dict[str, Any]) -> list[str]:
    """The CSV file stems (under ``tables/``) a config entry writes."""
    if section in ("series", "tables"):
        return [name]
    if section == "scenarios":
        return [name, f"{name}_streams"]
    return [name] if spec.get("kind") == "event_rate" else []


def values_of(spec: dict, *, series: bool) -> dict[str, tuple[str, str]]:
    values = spec.get("values")
    if values is None:
        return {"streams": ("stream_id", "count")} if series or "by" in spec else {}
    return {k: tuple(v) for k, v in values.items()}  # type: ignore[misc]


def sort_column(key: Any) -> Any:
    """A sort key's column: ``"-balance"`` (largest first) sorts by ``balance``."""
    return key[1:] if isinstance(key, str) and key.startswith("-") else key


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def time_value(value: Any) -> Any:
    """TOML dates and local datetimes as eventkit understands them (a date: midnight UTC)."""
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def line_of(text: str, key: str) -> int | None:
    """The 1-based line where the dotted ``key`` is set (or its table starts) in TOML ``text``.

    tomllib keeps no positions, so this scans headers and ``key =`` lines; good enough to point a
    person at the right place, and None when not found.
    """
    if not text or not key:
        return None
    parts = key.split(".")
    header: list[str] = []
    fallback = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        if m:
            header = _split_key(m.group(1))
            if header[: len(parts)] == parts:  # the table itself, or the first of its sub-tables
                return number
            continue
        m = re.match(r"([A-Za-z0-9_.\-\"' ]+?)\s*=", stripped)
        if m:
            full = header + _split_key(m.group(1))
            if full == parts:
                return number
            if parts[: len(full)] == full and len(full) < len(parts):
                fallback = fallback or number  # e.g. values = { total = [...] } inline
        if parts[: len(header)] == header and re.search(
                rf"(^|[\s{{,]){re.escape(parts[-1])}\s*=", stripped) and fallback is None:
            fallback = number
    return fallback


def _split_key(key: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', key)]
