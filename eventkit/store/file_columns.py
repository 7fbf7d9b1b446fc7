"""The columns of a file being imported: what ``--map`` and ``--drop`` make of its header, and the
problems a header can have, refused before any row is read or stored, naming the column and the fix.

A header problem found by the store's own checks would be reported against the first row ("line 2:
... drop it from the frame"); the user has a file and a command line, not a frame, so the import
checks the header first and says which option fixes it.

May use :mod:`eventkit.common` and :mod:`.envelope`.
"""

from __future__ import annotations

from typing import Collection, Mapping

from eventkit.common.errors import EventKitError, InvalidInput
from eventkit.store.envelope import check_field_name

INPUT_ENVELOPE = ("stream_id", "event_type", "stream_type", "occurred_at", "event_id", "version", "metadata")
COMPUTED = ("position", "recorded_at")  # the store assigns them; an export of a store has them
_FLAT_PREFIX = "data."  # `eventkit sql --flatten` writes a payload field as data.NAME


def renamed(names: list[str], mapping: Mapping[str, str]) -> list[str]:
    """Each column's name after ``--map``; a flattened ``data.NAME`` (eventkit's own export) is ``NAME``."""
    out = []
    for name in names:
        name = mapping.get(name, name)
        if name.startswith(_FLAT_PREFIX) and len(name) > len(_FLAT_PREFIX):
            name = name[len(_FLAT_PREFIX):]
        out.append(name)
    return out


def kept(names: list[str], drop: Collection[str], mapping: Mapping[str, str]) -> list[int]:
    """Indices of the columns ``--drop`` keeps; refuses ``--map``/``--drop`` naming columns not there."""
    for option, wanted in (("--drop", drop), ("--map", mapping)):
        missing = sorted(set(wanted) - set(names))
        if missing:
            raise InvalidInput(f"{option} names column(s) {missing} that the input does not have; it has {names}",
                               column=missing[0])
    return [i for i, name in enumerate(names) if name not in drop]


def refuse_duplicates(names: list[str], mapping: Mapping[str, str]) -> None:
    """Refuse columns of one name (a header with a column twice, or two columns --map gave one name)."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        how = " after --map" if set(mapping.values()) & set(twice) else ""
        raise InvalidInput(f"the input has column(s) {', '.join(map(repr, twice))} more than once{how}; "
                           "every column needs its own name (rename one in the file, or --map it)", column=twice[0])


def check_header(names: list[str], original: list[str], mapping: Mapping[str, str], *,
                 data_struct: bool = False) -> None:
    """Refuse a header the store would refuse: columns without a name or twice, store-assigned columns,
    payload names that are not identifiers. ``names`` are after ``--map``; ``original`` as in the file;
    ``data_struct``: a ``data`` column is a struct of payload fields (Parquet), not text."""
    if _separated(names):
        check_required(names)
    for i, name in enumerate(names):
        if not name.strip():
            raise InvalidInput(
                f"column {i + 1} of the header has no name (a pandas index, or a comma at the end of every line?): "
                f"name it in the file, or leave it out with --drop {original[i]!r}", column=name)
    refuse_duplicates(names, mapping)
    computed = [c for c in COMPUTED if c in names]
    if computed:
        raise InvalidInput(
            f"the input has column(s) {', '.join(map(repr, computed))}, which the store assigns at commit (is it an "
            f"export of a store?): {' '.join(f'--drop {c}' for c in computed)} imports it without them",
            column=computed[0])
    folded: dict[str, str] = {}
    for i, name in enumerate(names):
        if name in INPUT_ENVELOPE or (name == "data" and data_struct):
            continue
        if name == "data":
            raise InvalidInput("column 'data' holds the payload as one text cell (an export without --flatten?): "
                               "export with --flatten (a column per field) or --format json, or --map 'data=NEW_NAME' "
                               "to keep it as a text field", column=name)
        try:
            check_field_name(name)
        except EventKitError as e:
            first = str(e).strip().splitlines()[0]
            raise InvalidInput(f"column {original[i]!r} cannot be a payload field: {first}; rename it with "
                               f"--map '{original[i]}=NEW_NAME' or leave it out with --drop", column=name) from None
        other = folded.setdefault(name.lower(), name)
        if other != name:
            raise InvalidInput(f"columns {other!r} and {name!r} differ only in case, and field names are "
                               f"case-insensitive in SQL: rename one with --map '{name}=NEW_NAME'", column=name)


def _separated(names: list[str]) -> str:
    """A hint when the header is one column that holds other separators (a ';' CSV from Excel)."""
    sep = next((s for s in (";", "\t", "|") if s in names[0]), None) if len(names) == 1 else None
    if sep is None:
        return ""
    shown = {"\t": "a tab"}.get(sep, repr(sep))
    return (f": its one column {names[0]!r} looks separated by {shown}; eventkit reads CSV separated by ',' "
            "(and .tsv files by tabs): save it with commas, or as .tsv if it has tabs")


def check_required(names: list[str]) -> None:
    """Refuse a batch without stream_id or event_type, saying what the header has instead."""
    missing = [c for c in ("stream_id", "event_type") if c not in names]
    if not missing:
        return
    hint = _separated(names)
    if not hint:
        near = {c: [n for n in names if n.strip().lower() == c] for c in missing}
        near = {c: ns for c, ns in near.items() if ns}
        if near:
            hint = ": " + "; ".join(f"it has {ns[0]!r}: --map '{ns[0]}={c}'" for c, ns in near.items())
    raise InvalidInput(f"the input has no {' and no '.join(map(repr, missing))} column, which every event needs; "
                       f"its columns are {', '.join(map(repr, names[:12]))}{' ...' if len(names) > 12 else ''}"
                       f"{hint or ' (--map SRC=stream_id names the column to use)'}", column=missing[0])
