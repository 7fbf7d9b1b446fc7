"""Fold results that involve erased personal data say so: the ``erased`` column.

When a store has personal fields (``store.declare_personal``) and a subject was forgotten, its
events read those fields as NULL, with the event column ``erased`` true and ``erased_fields`` listing
the fields lost (a personal field the event never had is NULL but not erased). A fold that reads such
a field (as a reducer's field, or by name in a ``where=`` condition) gets one more output column,
``erased``: true on a row (a stream's state, or its state at a point of a series) when an event
folded into that row lost one of the personal fields the fold reads. So ``last("name")`` that is NULL
because the name was erased, or a sum over ``where="email LIKE ...")`` that no longer counts the
erased events, is marked, while a fold over emails is not marked by an erased name. A total over the
rows can check ``state.erased.any()``. Folds that read no personal field, and stores without
declarations, get no such column: their output is unchanged.

It is one more reducer, ``max("erased", where=<the event lost a personal field the fold reads>)``, so
state, snapshots, changes and saved states compute and combine it like any other field.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from eventkit.fold.reducers import Reducer, max as _max, unique_leaves

FLAG = "erased"


def personal_read(fields: Mapping[str, Reducer], personal: Any) -> list[str]:
    """The personal fields (of ``personal``) that ``fields`` read, in order."""
    used = []
    for leaf in unique_leaves(fields.values()):
        if leaf.field is not None:
            used.append(leaf.field[5:] if leaf.field.startswith("data.") else leaf.field)
        if leaf.where is not None:
            used += [p for p in personal if re.search(rf"(?<![\w.]){re.escape(p)}(?!\w)|data\.{re.escape(p)}(?!\w)",
                                                      leaf.where)]
    return [p for p in dict.fromkeys(used) if p in personal]


def erased_condition(read: Sequence[str], source: Any) -> str | None:
    """SQL true on an event that lost one of the personal fields ``read`` (None: none is read, or
    ``source``'s events carry no ``erased_fields``)."""
    read = [f for f in read if f in source.personal]
    if not read or "erased_fields" not in source.schema.envelope:
        return None
    return "list_has_any(erased_fields, [" + ", ".join(f"'{f}'" for f in read) + "]::VARCHAR[])"


def with_erased(fields: Mapping[str, Reducer], source: Any) -> dict[str, Reducer]:
    """``fields`` plus the ``erased`` flag when the fold reads a personal field of ``source``'s store."""
    out = dict(fields)
    if FLAG in out:
        return out
    lost = erased_condition(personal_read(fields, source.personal), source)
    if lost:
        out[FLAG] = flag_reducer(lost)
    return out


def flag_reducer(lost: str) -> Reducer:
    """The per-stream flag: whether an event where ``lost`` (:func:`erased_condition`) holds was folded."""
    return _max(FLAG, where=lost).fill_null(False)
