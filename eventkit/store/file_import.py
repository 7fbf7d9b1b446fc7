"""Importing a whole file into a store: :func:`import_file`, its result and its dry run.

CSV column types come from the whole file (:mod:`.csv_types`), the rows are read in batches by
:mod:`.file_reading`, and ids are derived from the rows (:class:`~.derived_ids.DerivedIds`) so that
importing the same rows again stores nothing. The reading functions are re-exported here (the
command line imports them from this module).

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.batches`, :mod:`.csv_types`,
:mod:`.file_reading` and :mod:`.derived_ids`; the store is passed in.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.common.errors import DuplicateEventId, EventKitError, InvalidInput
from eventkit.store.derived_ids import DerivedIds, numbers_as_one_text
from eventkit.store.file_reading import (  # noqa: F401 (re-exported: the reading half of importing)
    ENVELOPE,
    FORMATS,
    STRING_COLUMNS,
    csv_text_batches,
    file_batches,
    file_tweaks,
    json_lines,
    metadata_json,
    not_utf8,
    csv_delimiter,
    numbered_json_lines,
    prepare_table,
    read_events,
    record,
    table_from_records,
)


# -- importing a file into a store ------------------------------------------------------------------


@dataclass
class ImportResult:
    """What :func:`import_file` did.

    Attributes:
        rows: Data rows read from the file.
        imported: Events appended now.
        already_stored: Rows skipped because an earlier import stored them (same event ids).
        rejected: Rows set aside into the rejects file (bad cells).
        appends: Atomic appends made.
        streams: Streams the new events went to.
        first_position: Position of the first new event (None: nothing new).
        last_position: Position of the last new event.
        missing_text: CSV text columns whose cells spelt like a missing value (``NA``, ``NULL``...)
            were stored as missing: column -> cells (``as_text`` keeps them as text).
    """

    rows: int = 0
    imported: int = 0
    already_stored: int = 0
    rejected: int = 0
    appends: int = 0
    streams: set[str] = field(default_factory=set)
    first_position: int | None = None
    last_position: int | None = None
    missing_text: dict[str, int] = field(default_factory=dict)


@dataclass
class _Appended:
    """What a dry run reports for a batch it would append (the attributes import_file reads)."""

    first_position: int
    last_position: int
    versions: dict[str, int]
    duplicate: bool = False


class DryRun:
    """Stands in for the store during ``import_file(..., dry_run=True)``: each batch is checked as
    ``append_frame`` checks it (envelope, names, values, payload types against the store's schema)
    and nothing is written. Problems are collected, not raised, so one run shows the first few.

    Attributes:
        fields: The payload schema the store would have after the import.
        new_fields: Fields the import would add or widen.
        problems: What the real import would refuse (at most ``MAX_PROBLEMS``).
    """

    MAX_PROBLEMS = 10

    def __init__(self, store: Any) -> None:
        self.store = store
        self.fields: dict[str, str] = dict(store.fields)
        self.new_fields: dict[str, str] = {}
        self.problems: list[str] = []
        self.head = store.head
        self.batches = 0
        self._ids: set[str] = set()

    def problem(self, text: str) -> None:
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append(text)

    def stored_event_ids(self, event_ids: Any) -> set[str]:
        ids = [str(i) for i in event_ids]
        return self.store.stored_event_ids(ids) | (set(ids) & self._ids)

    def append_frame(self, frame: pa.Table, *, stream_type: str | None = None) -> _Appended:
        from eventkit.store.batches import arrow_batch_from_frame
        from eventkit.store.envelope import reconcile

        self.batches += 1
        try:
            batch = arrow_batch_from_frame(frame)
            for name, (kind, samples) in batch.field_types.items():
                merged = reconcile(name, self.fields.get(name), kind, values=samples)
                if merged != self.fields.get(name):
                    self.new_fields[name] = merged
                self.fields[name] = merged
        except EventKitError as e:
            self.problem(f"batch {self.batches}: {str(e).strip().splitlines()[0]}")
        if "event_id" in frame.column_names:
            self._ids.update(i for i in frame.column("event_id").to_pylist() if i is not None)
        first, self.head = self.head + 1, self.head + frame.num_rows
        return _Appended(first, self.head, {sid: 0 for sid in pc.unique(frame.column("stream_id")).to_pylist()})


def import_file(store: Any, file: str, *, result: ImportResult | None = None, **options: Any) -> ImportResult:
    """Import a CSV, JSONL or Parquet file into ``store``, one atomic append per batch.

    A CSV's column types are decided from the whole file first (see :mod:`eventkit.store.csv_types`):
    cells that do not fit refuse the import before anything is stored, or, with ``rejects``, go
    with their rows into that CSV file (with ``_line`` and ``_reason`` columns) while the rest
    imports. Without an ``event_id`` column, ids are derived from the rows (:class:`DerivedIds`),
    so importing the same rows again stores nothing; ``dedupe=False`` imports them again.

    ``result``, when given, is filled in as batches are stored, so a caller interrupted part way
    (Ctrl-C) can say what was stored. ``dry_run`` (a :class:`DryRun` over ``store``) checks
    everything and stores nothing; the result then says what would be imported. ``drop`` names
    columns (or JSON keys) to leave out, e.g. ``position`` and ``recorded_at`` of a store's export.
    The options are those of :func:`_import_file`.

    Raises:
        InvalidInput: Bad cells (nothing stored), an unreadable file (one not UTF-8 names its
            first such line), or a batch the store refused (the message says which batch and that
            the ones before it are stored).
    """
    result = ImportResult() if result is None else result
    rejects = options.get("rejects")
    if rejects and Path(rejects).exists() and os.path.samefile(rejects, file):
        raise InvalidInput(f"the rejects file {rejects} is the file being imported: writing it would destroy the "
                           "rows still to be read; give --rejects another file name")
    if options.get("fmt") != "parquet" and not_utf8(file, quick=True):
        raise InvalidInput(f"{not_utf8(file)}; nothing was stored")
    try:
        return _import_file(store, file, result=result, **options)
    except (UnicodeDecodeError, pa.ArrowInvalid) as e:
        if options.get("fmt") == "parquet" or (not isinstance(e, UnicodeDecodeError) and "UTF8" not in str(e)):
            raise  # a Parquet file is not text: its own error says what is wrong
        done = result.imported + result.already_stored
        kept = f"the {done:,} rows before it are stored" if done else "nothing was stored"
        raise InvalidInput(f"{not_utf8(file)}; {kept}") from None


def _import_file(
    store: Any,
    file: str,
    *,
    fmt: str,
    mapping: dict[str, str] | None = None,
    stream_type: str | None = None,
    batch_size: int = 100_000,
    rejects: str | None = None,
    as_text: Iterable[str] = (),
    dedupe: bool = True,
    progress: Callable[[int], None] | None = None,
    result: ImportResult | None = None,
    event_type: str | None = None,
    time_format: str | None = None,
    dry_run: DryRun | None = None,
    drop: Iterable[str] = (),
) -> ImportResult:
    """:func:`import_file`'s work (see there)."""
    from eventkit.store.csv_types import (CsvLines, Profile, bad_cell_count, convert, decide_kinds, missing_text,
                                          numbers_in_store, refuse, spelt_as_before)

    mapping = dict(mapping or {})
    drop = frozenset(drop)
    result = ImportResult() if result is None else result
    tweak = file_tweaks(fmt, event_type=event_type, time_format=time_format)
    csv = fmt == "csv"
    kinds: dict[str, str | None] = {}
    line_of: Callable[[Any], Any] | None = None
    if csv:
        profile = Profile()
        names = None
        for raw in csv_text_batches(file, mapping, batch_size, tweak, drop):
            names = names or raw.column_names
            profile.add(raw)
        as_text = set(as_text)
        line_of = CsvLines(file, csv_delimiter(file), profile.rows)
        kinds = decide_kinds(profile, store.fields, as_text)
        stored = numbers_in_store(store.fields)
        result.missing_text = missing_text(profile, kinds, as_text)
        if dry_run is not None and bad_cell_count(profile, kinds, stored):
            seen = 0
            for raw in csv_text_batches(file, mapping, batch_size, tweak, drop):
                _, bad, reasons = convert(raw, kinds, as_text, stored)
                for i in np.flatnonzero(bad)[: dry_run.MAX_PROBLEMS]:
                    dry_run.problem(f"line {line_of(seen + int(i)):,}: {reasons[i]}")
                seen += raw.num_rows
            rejects = rejects or ""  # the rest is checked as if those rows were set aside
        elif bad_cell_count(profile, kinds, stored) and rejects is None:
            examples: list[tuple[int, str]] = []
            seen = 0
            for raw in csv_text_batches(file, mapping, batch_size, tweak, drop):
                _, bad, reasons = convert(raw, kinds, as_text, stored)
                examples += [(line_of(seen + int(i)), reasons[i]) for i in np.flatnonzero(bad)][: 5 - len(examples)]
                seen += raw.num_rows
                if len(examples) >= 5:
                    break
            raise refuse(file, examples, bad_cell_count(profile, kinds, stored), kinds, names or [])
    ids = DerivedIds(salt=f"|stream_type={stream_type or ''}") if dedupe else None
    # Personal fields stay out of derived ids: an id is kept after forget, and an MD5 of the row with the
    # personal value in it would let anyone who guesses the value check the guess against it.
    personal = set(store.personal_state()[0]) if dedupe and hasattr(store, "personal_state") else set()
    # Ids as imports derived them before (personal values hashed in), or before a field was declared
    # personal: a row stored under such an id is stored, so a re-run of the same file adds nothing twice.
    earlier_ids = DerivedIds(salt=ids.salt) if ids is not None and personal else None
    writer = None
    try:
        batches = csv_text_batches(file, mapping, batch_size, tweak, drop) if csv else file_batches(file, fmt, mapping, batch_size, tweak, drop)
        for raw in batches:
            first_row, read = result.rows, raw.num_rows
            result.rows += read
            table = raw
            if csv:
                table, bad, reasons = convert(raw, kinds, as_text, stored)
                if bad.any():
                    if dry_run is None:
                        writer = _write_rejects(writer, rejects, raw, mapping, bad, reasons,  # type: ignore[arg-type]
                                                line_of(first_row + np.flatnonzero(bad)))
                    result.rejected += int(bad.sum())
                    keep = pa.array(~bad)
                    table, raw = table.filter(keep), raw.filter(keep)
                    lines = np.arange(first_row, first_row + read)[~bad]
                else:
                    lines = np.arange(first_row, first_row + read)
                raw = spelt_as_before(raw)  # ids hash a null spelling as missing, as they always did
            else:
                lines = np.arange(first_row, first_row + read)
            if fmt in ("jsonl", "json"):  # a batch types 10 as BIGINT, or as DOUBLE next to a 10.5: hash one form
                raw = numbers_as_one_text(raw)
            if table.num_rows:
                where = _Where(line_of, first_row)
                table = table.append_column(_LINE, pa.array(lines, pa.int64()))  # for errors: which data row
                hashed = raw.drop_columns([c for c in raw.column_names if c in personal])
                earlier = None
                if earlier_ids is not None and hashed.num_columns < raw.num_columns:
                    earlier = earlier_ids.ids(raw.drop_columns([c for c in ("event_id",) if c in raw.column_names]))
                _append(store if dry_run is None else dry_run, table, hashed, ids, stream_type, result, where,
                        earlier)
            if progress is not None:
                progress(read)
    finally:
        for derived in (ids, earlier_ids):
            if derived is not None:
                derived.close()
        if writer is not None:
            writer.close()
    return result


def _append(store: Any, table: pa.Table, raw: pa.Table, ids: DerivedIds | None, stream_type: str | None,
            result: ImportResult, where: _Where, earlier: pa.Array | None = None) -> None:
    """Append one batch, skipping rows whose ids the store holds; errors name the batch.

    ``earlier``: each row's id as derived with its personal values (as imports did before personal fields
    were left out of ids, or before a field was declared personal); a row stored under it is stored.
    """
    supplied = "event_id" in table.column_names and table.column("event_id").null_count < table.num_rows
    if not supplied and ids is not None:
        table = table.drop_columns([c for c in ("event_id",) if c in table.column_names])
        table = table.append_column("event_id", ids.ids(raw.drop_columns(
            [c for c in ("event_id",) if c in raw.column_names])))
        if earlier is not None:
            stored_before = store.stored_event_ids(earlier.to_pylist())
            if stored_before:
                old = pc.fill_null(pc.is_in(earlier, pa.array(sorted(stored_before), pa.string())), False)
                result.already_stored += len(stored_before)
                table = table.filter(pc.invert(old))
                if not table.num_rows:
                    return
    if supplied:
        # A caller's own ids: re-send the stored ones so that the store checks they are the same events.
        known = store.stored_event_ids(pc.drop_null(table.column("event_id")).to_pylist())
        stored, table = _split(table, known)
        if stored.num_rows:
            _append_part(store, stored, stream_type, result, where, resend=True)
    elif ids is not None:
        # Derived ids name content, so a stored id is a stored row: skip it without a re-check.
        # A new batch (its first and last rows not stored) goes straight to the store, whose own id
        # check refuses it if some rows in between are stored; then we look them all up.
        column = table.column("event_id")
        if store.stored_event_ids([column[0].as_py(), column[-1].as_py()]):
            known = store.stored_event_ids(column.to_pylist())
            result.already_stored += len(known)
            _, table = _split(table, known)
        else:
            try:
                return _append_part(store, table, stream_type, result, where, strict=True)
            except DuplicateEventId:
                known = store.stored_event_ids(column.to_pylist())
                result.already_stored += len(known)
                _, table = _split(table, known)
    if table.num_rows:
        _append_part(store, table, stream_type, result, where)


def _split(table: pa.Table, known: set[str]) -> tuple[pa.Table, pa.Table]:
    """(rows whose event_id is in ``known``, the other rows)."""
    if not known:
        return table.slice(0, 0), table
    if len(known) == table.num_rows:  # a batch stored before (ids are unique in a batch)
        return table, table.slice(0, 0)
    is_known = pc.fill_null(pc.is_in(table.column("event_id"), pa.array(sorted(known), pa.string())), False)
    return table.filter(is_known), table.filter(pc.invert(is_known))


_LINE = "_ek_file_row"  # a column import_file adds to each batch: each row's 0-based data row in the file


class _Where:
    """Where a batch starts, for messages: ``line N`` of a CSV (:class:`CsvLines`, asked only when a
    message is written) or ``row N`` of another file."""

    def __init__(self, line_of: Callable[[Any], Any] | None, first_row: int) -> None:
        self.line_of, self.first_row = line_of, first_row

    def at(self, row: int) -> str:
        return f"line {self.line_of(row):,}" if self.line_of is not None else f"row {row + 1:,}"

    def __str__(self) -> str:
        return self.at(self.first_row)


def _first_bad_row(part: pa.Table) -> int | None:
    """The first row of ``part`` that append_frame's own checks refuse (None: they accept it all).

    Checks are per row or per pair of rows, so a prefix that fails stays failing when it grows:
    a binary search over prefixes needs about log2(rows) checks, run only after a refusal.
    """
    from eventkit.store.batches import arrow_batch_from_frame

    def refused(rows: int) -> bool:
        try:
            arrow_batch_from_frame(part.slice(0, rows))
        except EventKitError:
            return True
        return False

    if not refused(part.num_rows):
        return None
    low, high = 1, part.num_rows
    while low < high:
        mid = (low + high) // 2
        if refused(mid):
            high = mid
        else:
            low = mid + 1
    return low - 1


def _append_part(store: Any, part: pa.Table, stream_type: str | None, result: ImportResult, where: _Where, *,
                 resend: bool = False, strict: bool = False) -> None:
    lines = part.column(_LINE) if _LINE in part.column_names else None
    part = part.drop_columns([_LINE]) if lines is not None else part
    try:
        appended = store.append_frame(part, stream_type=stream_type)
    except DuplicateEventId:
        if strict:
            raise
        appended = None
        error: Exception = sys.exc_info()[1]  # type: ignore[assignment]
    except (EventKitError, pa.ArrowException) as e:
        appended, error = None, e
    if appended is None:
        done = result.imported + result.already_stored
        kept = f"the {done:,} rows before it are stored" if done else "nothing was stored"
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        bad = _first_bad_row(part) if lines is not None else None
        if bad is not None:
            message = f"{where.at(lines[bad].as_py())}: {message}"
        raise InvalidInput(f"batch {result.appends + 1} (from {where}) was not imported: {message}; {kept}") from None
    if appended.duplicate or resend:
        result.already_stored += part.num_rows
        return
    result.appends += 1
    result.imported += part.num_rows
    result.streams.update(appended.versions)
    if result.first_position is None:
        result.first_position = appended.first_position
    result.last_position = appended.last_position


def _write_rejects(writer: Any, path: str, raw: pa.Table, mapping: dict[str, str], bad: np.ndarray,
                   reasons: list[str], lines: np.ndarray) -> Any:
    import pyarrow.csv as pacsv

    back = {dst: src for src, dst in mapping.items()}
    rows = raw.filter(pa.array(bad)).rename_columns([back.get(c, c) for c in raw.column_names])
    idx = np.flatnonzero(bad)
    rows = rows.append_column("_line", pa.array(lines, pa.int64()))
    rows = rows.append_column("_reason", pa.array([reasons[i] for i in idx], pa.string()))
    if writer is None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = pacsv.CSVWriter(path, rows.schema)
    writer.write_table(rows)
    return writer
