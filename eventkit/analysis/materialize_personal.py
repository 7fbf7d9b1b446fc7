"""A scenario's events written into a new store with their personal data still protected and their erasures
still erased (what :meth:`~eventkit.analysis.scenario_results.ScenarioResults.materialize` does for a store
with personal fields).

The new store gets the same declarations, so the personal values a scenario reads (revealed) are encrypted
there again under the new store's own keys, and can be forgotten there. An erased value cannot be copied:
its key is gone. It is written as a placeholder under its subject's key in the new store, and that subject
is then forgotten there: the new store reads the value as NULL with ``erased`` and ``erased_fields``, like
the scenario, and its chain logs the erasure (when, whose), like the original's.

A subject that came back after an erasure has live values under a new key: in position order, a live value
of a subject whose placeholders wait to be forgotten makes the subject forgotten first. An erased value that
would share a key with a live value of its subject (a scenario change that set another field of the erased
event, or an edit placing a live value before an erased one) is written as NULL without the flag: erasing it
would erase the live value too.

May use :mod:`eventkit.common` and the store objects it is given.
"""

from __future__ import annotations

from typing import Any, Iterable

import pyarrow as pa

PLACEHOLDER = ""  # what an erased value is written as before its subject is forgotten in the new store
ERASURE_COLUMNS = ("erased", "erased_fields")


class _Rules:
    """Which personal field of an event belongs to which subject column, per (stream type, event type)."""

    def __init__(self, declarations: list[dict[str, Any]]) -> None:
        self._stream = {d["stream_type"]: d for d in declarations if "stream_type" in d}
        self._event = {d["event_type"]: d for d in declarations if "event_type" in d}
        self._cache: dict[tuple[Any, Any], dict[str, str]] = {}

    def subjects(self, stream_type: Any, event_type: Any) -> dict[str, str]:
        key = (stream_type, event_type)
        got = self._cache.get(key)
        if got is None:
            got = {}
            # The stream type's rule first: the one a bulk append encrypts a field under when both name it.
            for rule in (self._stream.get(stream_type), self._event.get(event_type)):
                if rule is not None:
                    for f in rule["fields"]:
                        got.setdefault(f, rule["subject"])
            self._cache[key] = got
        return got


def write_events(batches: Iterable[pa.RecordBatch], target: Any, declarations: list[dict[str, Any]], *,
                 erasures: bool) -> None:
    """Append ``batches`` (envelope, flat payload, and ``erased_fields`` when ``erasures``) to ``target``
    under ``declarations``, forgetting there the subjects of the erased values (see the module)."""
    for d in declarations:
        target.declare_personal(**d)
    writer = _Writer(target, _Rules(declarations))
    for batch in batches:
        if not batch.num_rows:
            continue
        table = pa.Table.from_batches([batch])
        if erasures:
            writer.write(table)
        else:
            target.append_frame(table.drop_columns([c for c in ERASURE_COLUMNS if c in table.column_names]))
    for subject in sorted(writer.pending):
        target.forget(subject)


class _Writer:
    def __init__(self, target: Any, rules: _Rules) -> None:
        self.target, self.rules = target, rules
        self.pending: set[str] = set()  # subjects with placeholders written, not yet forgotten
        self.live: set[str] = set()  # subjects with live values written since they were last forgotten

    def write(self, table: pa.Table) -> None:
        names = table.column_names
        columns: dict[str, list] = {}

        def column(name: str) -> list:
            if name not in columns:
                columns[name] = table.column(name).to_pylist()
            return columns[name]

        stream_ids, stream_types, event_types = column("stream_id"), column("stream_type"), column("event_type")
        lost = column("erased_fields")
        values: dict[str, list] = {}  # the personal columns touched, as they will be written
        cuts: list[tuple[int, list[str]]] = []  # (row, subjects to forget before it)
        for i in range(table.num_rows):
            fields = self.rules.subjects(stream_types[i], event_types[i])
            if not fields:
                continue
            erased: dict[str, list[str]] = {}
            live: set[str] = set()
            for f, subject_col in fields.items():
                if f not in names:
                    continue
                if f not in values:
                    values[f] = list(column(f))
                subject = stream_ids[i] if subject_col == "stream_id" else (
                    column(subject_col)[i] if subject_col in names else None)
                if subject is None:
                    continue
                if lost[i] and f in lost[i]:
                    erased.setdefault(str(subject), []).append(f)
                elif values[f][i] is not None:
                    live.add(str(subject))
            back = sorted(live & self.pending)
            if back:
                cuts.append((i, back))
                self.pending -= set(back)
                self.live -= set(back)
            for subject, fs in erased.items():
                keep = subject in live or subject in self.live
                for f in fs:
                    values[f][i] = None if keep else PLACEHOLDER
                if not keep:
                    self.pending.add(subject)
            self.live |= live
        for f, column in values.items():
            table = table.set_column(names.index(f), f, pa.array(column, pa.string()))
        table = table.drop_columns([c for c in ERASURE_COLUMNS if c in names])
        start = 0
        for row, subjects in cuts:
            if row > start:
                self.target.append_frame(table.slice(start, row - start))
            for subject in subjects:
                self.target.forget(subject)
            start = row
        if start < table.num_rows:
            self.target.append_frame(table.slice(start))
