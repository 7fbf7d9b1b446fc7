"""Reading events from files for bulk loading: JSON, JSONL, CSV and Parquet into Arrow batches.

The command line's ``append`` and ``import`` use these, and so can a notebook: each function
returns Arrow tables in the shape :meth:`eventkit.Store.append_frame` takes (envelope columns by
name, payload flat), and reports bad input as :class:`eventkit.InvalidInput` naming the line,
event or column. :func:`import_file` imports a whole file: CSV column types from the whole file
(:mod:`eventkit.store.csv_types`), ids derived from the rows (:class:`DerivedIds`) so that importing
the same rows again stores nothing.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.store.batches import meta_json
from eventkit.store.envelope import check_text
from eventkit.common.errors import DuplicateEventId, EventKitError, InvalidInput

ENVELOPE = ("stream_id", "event_type", "stream_type", "occurred_at", "event_id", "version", "metadata")
STRING_COLUMNS = ("stream_id", "event_type", "stream_type", "event_id")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
           ".parquet": "parquet", ".pq": "parquet"}



def metadata_json(value: Any, where: str) -> str | None:
    """Metadata as the JSON object text append_frame stores (values become strings)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidInput(f"{where}: metadata {value[:40]!r} is not a JSON object") from None
    if isinstance(value, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        value = dict(value)  # an Arrow map column reads as (key, value) pairs
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: metadata must be an object of names to values, not {value!r}")
    return meta_json(value, where)


def record(obj: Any, where: str, mapping: dict[str, str]) -> dict[str, Any]:
    """One input event as a flat row: envelope fields plus payload fields (from ``data`` or flat)."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} is a JSON {type(obj).__name__}, not an object with stream_id and event_type")
    row = {mapping.get(k, k): v for k, v in obj.items()}
    data = row.pop("data", None)
    if data is not None:
        if not isinstance(data, dict):
            raise InvalidInput(f"{where}: 'data' must be an object of payload fields, not {data!r}")
        clash = sorted(set(data) & (set(row) | set(ENVELOPE)))
        if clash:
            raise InvalidInput(f"{where}: 'data' field(s) {clash} clash with fields outside data or with envelope names")
        row.update(data)
    for name in ("stream_id", "event_type"):
        if row.get(name) in (None, ""):
            raise InvalidInput(f"{where} has no {name!r}; every event needs stream_id and event_type")
    return row


def table_from_records(rows: list[dict[str, Any]], labels: list[str] | None = None) -> pa.Table:
    """Records as a table; ``labels`` name each record in errors (default ``event N``)."""
    label = (lambda i: labels[i]) if labels is not None else (lambda i: f"event {i + 1}")
    names = dict.fromkeys(k for row in rows for k in row)
    columns = {}
    for name in names:
        check_text(name, "field name", envelope=False)
        values = [row.get(name) for row in rows]
        if name == "metadata":
            columns[name] = pa.array([metadata_json(v, label(i)) for i, v in enumerate(values)], pa.string())
            continue
        try:
            columns[name] = pa.array(values)
        except UnicodeEncodeError:
            for i, v in enumerate(values):
                if isinstance(v, str):
                    check_text(v, f"field {name!r}", label(i), envelope=False)
            raise  # pragma: no cover - a surrogate the check above did not find
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            huge = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63]
            if huge:
                raise InvalidInput(f"field {name!r} holds an integer outside 64 bits", column=name, values=huge) from None
            kinds = sorted({type(v).__name__ for v in values if v is not None})
            raise InvalidInput(
                f"field {name!r} mixes kinds of value ({', '.join(kinds)}); give it one kind in every event"
            ) from None
    return pa.table(columns)


def prepare_table(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    """Rename mapped columns, flatten a ``data`` struct, make ids text and metadata JSON text."""
    missing = sorted(set(mapping) - set(table.column_names))
    if missing:
        raise InvalidInput(f"--map names column(s) {missing} that the input does not have; it has {table.column_names}")
    table = table.rename_columns([mapping.get(c, c) for c in table.column_names])
    if "data" in table.column_names and pa.types.is_struct(table.schema.field("data").type):
        data = table.column("data").combine_chunks()
        table = table.drop_columns(["data"])
        for i, child in enumerate(data.type):
            table = table.append_column(child.name, data.field(i))
    if len(set(table.column_names)) != len(table.column_names):
        raise InvalidInput(f"after --map the input has duplicate columns: {table.column_names}")
    for name in STRING_COLUMNS:
        if name in table.column_names and pa.types.is_integer(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, table.column(name).cast(pa.string()))
    if "metadata" in table.column_names:
        values = table.column("metadata").to_pylist()
        meta = pa.array([metadata_json(v, f"row {i + 1}") for i, v in enumerate(values)], pa.string())
        table = table.set_column(table.column_names.index("metadata"), "metadata", meta)
    return table


def json_lines(lines: Iterable[str], source: str, mapping: dict[str, str]) -> Iterator[dict[str, Any]]:
    return (row for _, row in numbered_json_lines(lines, source, mapping))


def numbered_json_lines(lines: Iterable[str], source: str,
                        mapping: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("line N", row)`` for each non-blank JSON line (N counts every line of the file)."""
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{source} line {n} is not valid JSON: {e}") from None
            yield f"line {n}", record(obj, f"{source} line {n}", mapping)


def read_events(file: str) -> list[dict[str, Any]]:
    """Events from a JSON array, a single JSON object, or JSONL (one object per line)."""
    source = "stdin" if file == "-" else file
    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            with open(file, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read {source}: {e}") from None
    if not text.strip():
        raise InvalidInput(f"{source} is empty; give at least one event")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise InvalidInput(f"{source} is not valid JSON: {e}") from None
        return list(json_lines(text.splitlines(), source, {}))
    items = whole if isinstance(whole, list) else [whole]
    if not items:
        raise InvalidInput(f"{source} holds an empty list; give at least one event")
    return [record(obj, f"{source} event {i}", {}) for i, obj in enumerate(items, 1)]


def file_batches(file: str, fmt: str, mapping: dict[str, str], size: int,
                 tweak: Callable[[pa.Table, int], pa.Table] | None = None) -> Iterator[pa.Table]:
    """Batches of at most ``size`` rows of a JSONL, JSON-array or Parquet file, ready for append_frame.

    ``tweak(table, first_row)`` runs on each batch before it is typed (constant columns, a time
    format: see :func:`import_file`). (CSV is read as text and typed from the whole file.)
    """
    tweak = tweak or (lambda table, first_row: table)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        def parquet() -> Iterator[pa.Table]:
            seen = 0
            for b in pq.ParquetFile(file).iter_batches(batch_size=size):
                yield tweak(prepare_table(pa.Table.from_batches([b]), mapping), seen)
                seen += b.num_rows

        return parquet()
    if fmt not in ("jsonl", "json"):
        raise InvalidInput(f"file_batches reads jsonl, json or parquet, not {fmt!r}")

    def records() -> Iterator[pa.Table]:
        with open(file, encoding="utf-8") as f:
            if fmt == "jsonl":
                events: Iterator[tuple[str, dict[str, Any]]] = numbered_json_lines(f, file, mapping)
            else:
                try:
                    items = json.load(f)
                except json.JSONDecodeError as e:
                    raise InvalidInput(f"{file} is not valid JSON: {e}") from None
                if not isinstance(items, list):
                    raise InvalidInput(f"{file} holds a JSON {type(items).__name__}, not an array of events")
                events = ((f"event {i}", record(obj, f"{file} event {i}", mapping)) for i, obj in enumerate(items, 1))
            seen = 0
            while chunk := list(itertools.islice(events, size)):
                table = table_from_records([row for _, row in chunk], [f"{file} {label}" for label, _ in chunk])
                yield prepare_table(tweak(table, seen), {})
                seen += len(chunk)

    return records()


def file_tweaks(fmt: str, *, event_type: str | None = None,
                time_format: str | None = None) -> Callable[[pa.Table, int], pa.Table] | None:
    """What ``--event-type`` and ``--time-format`` do to each batch of a file, before typing.

    ``event_type`` is the event type of every row (the file must not have an event_type column);
    ``time_format`` (strptime codes, e.g. ``"%b %d %Y"``) reads ``occurred_at``: a cell it does
    not match is an error naming the cell's line (CSV, JSONL) or event (JSON) and its value.
    """
    if event_type is None and time_format is None:
        return None
    if event_type is not None:
        check_text(event_type, "--event-type")

    def where(first_row: int, i: int) -> str:
        n = first_row + i + 1
        return {"csv": f"line {n + 1:,}", "jsonl": f"line {n:,}"}.get(fmt, f"event {n:,}")

    def tweak(table: pa.Table, first_row: int) -> pa.Table:
        if event_type is not None:
            if "event_type" in table.column_names:
                raise InvalidInput("--event-type gives every row one event type, but the file has an event_type "
                                   "column; drop the option or --map that column to another name")
            table = table.append_column("event_type", pa.array([event_type] * table.num_rows, pa.string()))
        if time_format is not None and "occurred_at" in table.column_names:
            text = table.column("occurred_at")
            if not pa.types.is_string(text.type):
                raise InvalidInput(f"--time-format reads occurred_at as text, but the file has it as {text.type}")
            text = pc.utf8_trim_whitespace(text)
            parsed = pc.strptime(text, format=time_format, unit="us", error_is_null=True)
            wrong = np.flatnonzero(pc.and_(pc.is_valid(text), pc.is_null(parsed)).to_numpy(zero_copy_only=False))
            if len(wrong):
                shown = "; ".join(f"{where(first_row, int(i))}: {text[int(i)].as_py()!r}" for i in wrong[:5])
                raise InvalidInput(f"{len(wrong):,} occurred_at value(s) do not match --time-format "
                                   f"{time_format!r} ({shown}); nothing of this batch was stored")
            iso = pc.strftime(parsed, format="%Y-%m-%dT%H:%M:%S")
            if parsed.type.tz is not None:
                iso = pc.binary_join_element_wise(iso, "Z", "")
            table = table.set_column(table.column_names.index("occurred_at"), "occurred_at", iso)
        return table

    return tweak


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
    """

    rows: int = 0
    imported: int = 0
    already_stored: int = 0
    rejected: int = 0
    appends: int = 0
    streams: set[str] = field(default_factory=set)
    first_position: int | None = None
    last_position: int | None = None


class DerivedIds:
    """Event ids derived from what a file holds, so that importing it again stores nothing twice.

    A row's id is a UUID (version 8 layout) from the MD5 of its content (every cell, as read, with
    its column name, and the stream type given for the import) and of how many rows of identical
    content came before it in the file. So the same rows give the same ids whatever the file is
    called or where it lies; rows appended to the end of the file get new ids (only they import on
    a re-run); two identical rows (two equal deposits on one day) stay two events. A row edited
    in place is a new event: the store is append-only, the old one stays.
    """

    def __init__(self, salt: str = "") -> None:
        import duckdb

        self.salt = salt
        self.con = duckdb.connect()
        # Rows seen so far, by the first 64 bits of their content hash: sorted keys and counts
        # (16 bytes per distinct row). A 64-bit collision only shifts an occurrence number, which
        # is as deterministic as the rest, so re-runs still agree.
        self.keys = np.empty(0, dtype=np.uint64)
        self.counts = np.empty(0, dtype=np.int64)

    def close(self) -> None:
        self.con.close()

    def ids(self, content: pa.Table) -> pa.Array:
        """The ids of ``content``'s rows, in order; later calls continue the same file."""
        import hashlib

        self.con.register("_raw", content)
        hashed = self.con.sql(
            "SELECT h, ('0x' || substr(h, 1, 16))::UBIGINT AS k FROM (SELECT md5(to_json(t) || ?) AS h FROM _raw t)",
            params=[self.salt],
        ).to_arrow_table()
        self.con.unregister("_raw")
        digest = hashed.column("h").combine_chunks()
        occurrence = self._occurrences(hashed.column("k").to_numpy())
        if occurrence.any():  # the 2nd, 3rd ... row of identical content: hash in its number
            values = digest.to_pylist()
            for i in np.flatnonzero(occurrence):
                values[i] = hashlib.md5(f"{values[i]}#{occurrence[i]}".encode()).hexdigest()
            digest = pa.array(values, pa.string())
        # 8-4-4-4-12 hex with the version nibble 8 and variant nibble 9.
        cut = [pc.utf8_slice_codeunits(digest, a, b) for a, b in ((0, 8), (8, 12), (13, 16), (17, 20), (20, 32))]
        return pc.binary_join_element_wise(cut[0], cut[1], pc.binary_join_element_wise("8", cut[2], ""),
                                           pc.binary_join_element_wise("9", cut[3], ""), cut[4], "-")

    def _occurrences(self, keys: np.ndarray) -> np.ndarray:
        """For each key: how many equal keys came before it (earlier batches, then this one)."""
        n = len(keys)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - first
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            rank += np.where(self.keys[at] == keys, self.counts[at], 0)
        unique, counts = ordered[starts], np.diff(np.append(np.flatnonzero(starts), n))
        keys, tally = np.concatenate([self.keys, unique]), np.concatenate([self.counts, counts])
        merge = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
        keys, tally = keys[merge], tally[merge]
        first_of = np.flatnonzero(np.append(True, keys[1:] != keys[:-1]))
        self.keys, self.counts = keys[first_of], np.add.reduceat(tally, first_of)
        return rank


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


def import_file(
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
) -> ImportResult:
    """Import a CSV, JSONL or Parquet file into ``store``, one atomic append per batch.

    A CSV's column types are decided from the whole file first (see :mod:`eventkit.store.csv_types`):
    cells that do not fit refuse the import before anything is stored, or, with ``rejects``, go
    with their rows into that CSV file (with ``_line`` and ``_reason`` columns) while the rest
    imports. Without an ``event_id`` column, ids are derived from the rows (:class:`DerivedIds`),
    so importing the same rows again stores nothing; ``dedupe=False`` imports them again.

    ``result``, when given, is filled in as batches are stored, so a caller interrupted part way
    (Ctrl-C) can say what was stored. ``dry_run`` (a :class:`DryRun` over ``store``) checks
    everything and stores nothing; the result then says what would be imported.

    Raises:
        InvalidInput: Bad cells (nothing stored), an unreadable file, or a batch the store
            refused (the message says which batch and that the ones before it are stored).
    """
    from eventkit.store.csv_types import Profile, bad_cell_count, convert, decide_kinds, refuse

    mapping = dict(mapping or {})
    result = ImportResult() if result is None else result
    tweak = file_tweaks(fmt, event_type=event_type, time_format=time_format)
    csv = fmt == "csv"
    kinds: dict[str, str | None] = {}
    if csv:
        profile = Profile()
        names = None
        for raw in _csv_text_batches(file, mapping, batch_size, tweak):
            names = names or raw.column_names
            profile.add(raw)
        kinds = decide_kinds(profile, store.fields, set(as_text))
        if dry_run is not None and bad_cell_count(profile, kinds):
            seen = 0
            for raw in _csv_text_batches(file, mapping, batch_size, tweak):
                _, bad, reasons = convert(raw, kinds)
                for i in np.flatnonzero(bad)[: dry_run.MAX_PROBLEMS]:
                    dry_run.problem(f"line {seen + 2 + int(i):,}: {reasons[i]}")
                seen += raw.num_rows
            rejects = rejects or ""  # the rest is checked as if those rows were set aside
        elif bad_cell_count(profile, kinds) and rejects is None:
            examples: list[tuple[int, str]] = []
            seen = 0
            for raw in _csv_text_batches(file, mapping, batch_size, tweak):
                _, bad, reasons = convert(raw, kinds)
                examples += [(seen + 2 + int(i), reasons[i]) for i in np.flatnonzero(bad)][: 5 - len(examples)]
                seen += raw.num_rows
                if len(examples) >= 5:
                    break
            raise refuse(file, examples, bad_cell_count(profile, kinds), kinds, names or [])
    ids = DerivedIds(salt=f"|stream_type={stream_type or ''}") if dedupe else None
    writer = None
    try:
        batches = _csv_text_batches(file, mapping, batch_size, tweak) if csv else file_batches(file, fmt, mapping, batch_size, tweak)
        for raw in batches:
            first_row, read = result.rows, raw.num_rows
            result.rows += read
            table = raw
            if csv:
                table, bad, reasons = convert(raw, kinds)
                if bad.any():
                    if dry_run is None:
                        writer = _write_rejects(writer, rejects, raw, mapping, bad, reasons, first_row)  # type: ignore[arg-type]
                    result.rejected += int(bad.sum())
                    keep = pa.array(~bad)
                    table, raw = table.filter(keep), raw.filter(keep)
                    lines = np.arange(first_row, first_row + read)[~bad] + 2
                else:
                    lines = np.arange(first_row, first_row + read) + 2
            else:
                lines = np.arange(first_row, first_row + read) + 1
            if fmt in ("jsonl", "json"):  # a batch types 10 as BIGINT, or as DOUBLE next to a 10.5: hash one form
                raw = _numbers_as_one_text(raw)
            if table.num_rows:
                where = f"line {first_row + 2:,}" if csv else f"row {first_row + 1:,}"
                table = table.append_column(_LINE, pa.array(lines, pa.int64()))  # for errors: which file row
                _append(store if dry_run is None else dry_run, table, raw, ids, stream_type, result, where)
            if progress is not None:
                progress(read)
    finally:
        if ids is not None:
            ids.close()
        if writer is not None:
            writer.close()
    return result


def _numbers_as_one_text(raw: pa.Table) -> pa.Table:
    """Numbers in one text form whatever type a batch gave them (10 and 10.0 both ``n:10``), exact
    for every BIGINT (a cast to DOUBLE would fail or round past 2**53): what row ids are hashed from."""
    cols = []
    for f, col in zip(raw.schema, raw.columns):
        if pa.types.is_integer(f.type):
            col = pc.binary_join_element_wise("n:", pc.cast(col, pa.string()), "")
        elif pa.types.is_floating(f.type):
            whole = pc.fill_null(pc.and_(pc.equal(pc.floor(col), col), pc.less(pc.abs(col), 2.0**63)), False)
            as_int = pc.cast(pc.if_else(whole, col, 0.0), pa.int64())
            text = pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(col, pa.string()))
            col = pc.binary_join_element_wise("n:", text, "")
        cols.append(col)
    return pa.table(cols, names=raw.column_names)


def _append(store: Any, table: pa.Table, raw: pa.Table, ids: DerivedIds | None, stream_type: str | None,
            result: ImportResult, where: str) -> None:
    """Append one batch, skipping rows whose ids the store holds; errors name the batch."""
    supplied = "event_id" in table.column_names and table.column("event_id").null_count < table.num_rows
    if not supplied and ids is not None:
        table = table.drop_columns([c for c in ("event_id",) if c in table.column_names])
        table = table.append_column("event_id", ids.ids(raw.drop_columns(
            [c for c in ("event_id",) if c in raw.column_names])))
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


_LINE = "_ek_file_row"  # a column import_file adds to each batch: the file line (CSV) or row of each row


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


def _append_part(store: Any, part: pa.Table, stream_type: str | None, result: ImportResult, where: str, *,
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
            message = f"{where.split()[0]} {lines[bad].as_py():,}: {message}"
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


def _csv_text_batches(file: str, mapping: dict[str, str], size: int,
                      tweak: Callable[[pa.Table, int], pa.Table] | None = None) -> Iterator[pa.Table]:
    """The CSV's rows as text, columns renamed by ``mapping``, in batches of ``size`` rows."""
    from eventkit.store.csv_types import batches_of, read_text_csv

    reader = read_text_csv(file, delimiter="\t" if file.endswith((".tsv", ".tsv.gz")) else ",")
    names = reader.schema.names
    missing = sorted(set(mapping) - set(names))
    if missing:
        raise InvalidInput(f"--map names column(s) {missing} that the input does not have; it has {names}")
    renamed = [mapping.get(c, c) for c in names]
    if len(set(renamed)) != len(renamed):
        raise InvalidInput(f"after --map the input has duplicate columns: {renamed}")
    seen = 0
    for batch in batches_of((pa.Table.from_batches([b]) for b in reader), size):
        batch = batch.rename_columns(renamed)
        yield tweak(batch, seen) if tweak is not None else batch
        seen += batch.num_rows


def _write_rejects(writer: Any, path: str, raw: pa.Table, mapping: dict[str, str], bad: np.ndarray,
                   reasons: list[str], first_row: int) -> Any:
    import pyarrow.csv as pacsv

    back = {dst: src for src, dst in mapping.items()}
    rows = raw.filter(pa.array(bad)).rename_columns([back.get(c, c) for c in raw.column_names])
    idx = np.flatnonzero(bad)
    rows = rows.append_column("_line", pa.array(first_row + 2 + idx, pa.int64()))
    rows = rows.append_column("_reason", pa.array([reasons[i] for i in idx], pa.string()))
    if writer is None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = pacsv.CSVWriter(path, rows.schema)
    writer.write_table(rows)
    return writer
