"""Reading events from files for bulk loading: JSON, JSONL, CSV and Parquet into Arrow batches.

The command line's ``append`` and ``import`` use these, and so can a notebook: each function
returns Arrow tables in the shape :meth:`eventkit.Store.append_frame` takes (envelope columns by
name, payload flat), and reports bad input as :class:`eventkit.InvalidInput` naming the line,
event or column. Importing a whole file into a store is :mod:`.file_import`.

May use :mod:`eventkit.common`, :mod:`.envelope`, :mod:`.batches`, :mod:`.csv_types` and :mod:`.file_columns`.
"""

from __future__ import annotations

import decimal
import itertools
import json
import math
import sys
from typing import Any, Callable, Collection, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.store.batches import meta_json
from eventkit.store.file_columns import check_header, check_required, kept, refuse_duplicates, renamed
from eventkit.store.envelope import check_text
from eventkit.common.errors import InvalidInput


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


def record(obj: Any, where: str, mapping: dict[str, str], drop: Collection[str] = ()) -> dict[str, Any]:
    """One input event as a flat row: envelope fields plus payload fields (from ``data`` or flat);
    keys in ``drop`` left out."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where} is a JSON {type(obj).__name__}, not an object with stream_id and event_type")
    row = {mapping.get(k, k): v for k, v in obj.items() if k not in drop}
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
    refuse_duplicates(table.column_names, mapping)
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


class _KeyTwice(Exception):
    pass


class _Lossy:
    """A JSON number no float reads back as (its text), left in the parsed value to find its field."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> float | _Lossy:
    """A JSON number with a fraction or exponent as a float, if the float reads back as the same number
    (the rule for decimals, decimals.py): ``2.50`` and ``1e10`` are exact; ``12345678901234567.89``,
    ``0.30000000000000001``, ``1e-400`` or ``1e400`` would be stored as other numbers."""
    f = float(text)
    r = repr(f)
    if r == text or (math.isfinite(f) and decimal.Decimal(r) == decimal.Decimal(text)):
        return f
    return _Lossy(text)


def _first_lossy(value: Any) -> tuple[str | None, str] | None:
    """(field, text) of the first number no float reads back as, in a parsed JSON value, or None."""
    if isinstance(value, _Lossy):
        return None, value.text
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (found := _first_lossy(item)) is not None:
            return (key if isinstance(value, dict) and found[0] is None else found[0]), found[1]
    return None


def _refuse_lossy(where: str, value: Any) -> InvalidInput:
    """The error for a JSON number a float would store as another number: where (the event of an
    array), the field, the number, what to do."""
    if isinstance(value, list):  # an array of events: name the event
        i = next(i for i, item in enumerate(value, 1) if _first_lossy(item) is not None)
        where, value = f"{where} event {i}", value[i - 1]
    field, text = _first_lossy(value)  # type: ignore[misc]
    return InvalidInput(
        f"{where}: {'field ' + repr(field) if field is not None else 'a value'} holds the number {text}, which a "
        "64-bit float (about 15 significant digits) would store as another number; write it as a string "
        f'("{text}") to keep it as text, or as integer cents', column=field)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _KeyTwice(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return obj


def loads(text: str, where: str) -> Any:
    """``json.loads``, refusing an object with a key twice (json keeps the last value without a word) and a
    number no float reads back as (json rounds it without a word), naming the event and field."""
    lossy: list[_Lossy] = []

    def parse_float(s: str) -> float | _Lossy:
        f = _float(s)
        if isinstance(f, _Lossy):
            lossy.append(f)
        return f

    try:
        value = json.loads(text, object_pairs_hook=_object, parse_float=parse_float)
    except _KeyTwice as e:
        raise InvalidInput(f"{where}: an object has the key {e.args[0]!r} twice; which value is meant is unknown: "
                           "keep one", column=e.args[0]) from None
    if lossy:
        raise _refuse_lossy(where, value)
    return value


def _open_text(file: str) -> Any:
    """``file`` as UTF-8 text, decompressed by its suffix; a byte-order mark (Windows) is not text."""
    import io

    from eventkit.store.csv_types import open_bytes

    return io.TextIOWrapper(open_bytes(file), encoding="utf-8-sig")


def not_utf8(file: str, *, quick: bool = False) -> str:
    """Why ``file`` cannot be read as UTF-8 text: the first line that is not (or UTF-16), and what to do.

    ``quick``: only look for a UTF-16 byte-order mark ("" when there is none)."""
    from eventkit.store.csv_types import open_bytes

    fix = "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT, or 'CSV UTF-8' in Excel)"
    with open_bytes(file) as f:
        rest = f.read(2)
        if rest in (b"\xff\xfe", b"\xfe\xff"):
            return f"{file} is UTF-16 text, not UTF-8: {fix}"
        if quick:
            return ""
        n = 1
        for chunk in itertools.chain(iter(lambda: f.read(1 << 20), b""), [b"\n"]):
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    return (f"{file} line {n:,} is not UTF-8 text (byte 0x{line[e.start]:02x}, e.g. Latin-1 or "
                            f"Windows-1252): {fix}")
                n += 1
    return f"{file} is not UTF-8 text: {fix}"


def numbered_json_lines(lines: Iterable[str], source: str, mapping: dict[str, str],
                        drop: Collection[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("line N", row)`` for each non-blank JSON line (N counts every line of the file)."""
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                obj = loads(line, f"{source} line {n}")
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{source} line {n} is not valid JSON: {e}") from None
            yield f"line {n}", record(obj, f"{source} line {n}", mapping, drop)


def read_events(file: str) -> list[dict[str, Any]]:
    """Events from a JSON array, a single JSON object, or JSONL (one object per line)."""
    source = "stdin" if file == "-" else file
    try:
        if file == "-":
            text = sys.stdin.read().removeprefix("\ufeff")
        else:
            with _open_text(file) as f:
                text = f.read()
    except UnicodeDecodeError as e:
        raise InvalidInput(f"cannot read {source}: {not_utf8(file) if file != '-' else None or e}") from None
    except OSError as e:
        raise InvalidInput(f"cannot read {source}: {e}") from None
    if not text.strip():
        raise InvalidInput(f"{source} is empty; give at least one event")
    try:
        whole = loads(text, source)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise InvalidInput(f"{source} is not valid JSON: {e}") from None
        return list(json_lines(text.splitlines(), source, {}))
    items = whole if isinstance(whole, list) else [whole]
    if not items:
        raise InvalidInput(f"{source} holds an empty list; give at least one event")
    return [record(obj, f"{source} event {i}", {}) for i, obj in enumerate(items, 1)]


def file_batches(file: str, fmt: str, mapping: dict[str, str], size: int,
                 tweak: Callable[[pa.Table, int], pa.Table] | None = None,
                 drop: Collection[str] = ()) -> Iterator[pa.Table]:
    """Batches of at most ``size`` rows of a JSONL, JSON-array or Parquet file, ready for append_frame.

    ``tweak(table, first_row)`` runs on each batch before it is typed (constant columns, a time
    format: see :func:`import_file`). (CSV is read as text and typed from the whole file.)
    """
    tweak = tweak or (lambda table, first_row: table)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        def parquet() -> Iterator[pa.Table]:
            source = pq.ParquetFile(file)
            names = source.schema_arrow.names
            keep = kept(names, drop, mapping)
            original = [names[i] for i in keep]
            new = renamed(original, mapping)
            data = "data" in new and pa.types.is_struct(source.schema_arrow.field(keep[new.index("data")]).type)
            check_header(new, original, mapping, data_struct=data)
            seen = 0
            for b in source.iter_batches(batch_size=size):
                table = tweak(prepare_table(pa.Table.from_batches([b]).select(keep).rename_columns(new), {}), seen)
                if not seen:
                    check_required(table.column_names)
                yield table
                seen += b.num_rows

        return parquet()
    if fmt not in ("jsonl", "json"):
        raise InvalidInput(f"file_batches reads jsonl, json or parquet, not {fmt!r}")

    def records() -> Iterator[pa.Table]:
        if drop:
            refuse_absent_keys(file, fmt, drop)
        with _open_text(file) as f:
            if fmt == "jsonl":
                events: Iterator[tuple[str, dict[str, Any]]] = numbered_json_lines(f, file, mapping, drop)
            else:
                try:
                    items = loads(f.read(), file)
                except json.JSONDecodeError as e:
                    raise InvalidInput(f"{file} is not valid JSON: {e}") from None
                if not isinstance(items, list):
                    raise InvalidInput(f"{file} holds a JSON {type(items).__name__}, not an array of events")
                events = ((f"event {i}", record(obj, f"{file} event {i}", mapping, drop))
                          for i, obj in enumerate(items, 1))
            seen = 0
            while chunk := list(itertools.islice(events, size)):
                table = table_from_records([row for _, row in chunk], [f"{file} {label}" for label, _ in chunk])
                check_header(table.column_names, table.column_names, mapping)
                yield prepare_table(tweak(table, seen), {})
                seen += len(chunk)

    return records()


def refuse_absent_keys(file: str, fmt: str, drop: Collection[str]) -> None:
    """Refuse ``--drop`` keys no object of a JSON/JSONL file has (a typo must not pass unnoticed).

    A key only some objects have is fine (it is left out where present). Runs before any batch is
    read for storing, so a refusal leaves the store untouched; it stops at the first object that
    has every key, so the usual case reads a line or two.
    """
    absent, seen = set(drop), set()
    with _open_text(file) as f:
        if fmt == "jsonl":
            objects: Iterable[Any] = (_quiet_loads(line) for line in f if line.strip())
        else:
            items = _quiet_loads(f.read())
            objects = items if isinstance(items, list) else []
        for obj in objects:
            if isinstance(obj, dict):
                absent -= obj.keys()
                seen.update(obj)
                if not absent:
                    return
    if absent:
        raise InvalidInput(f"--drop names key(s) {sorted(absent)} that no event of {file} has; "
                           f"its keys are {sorted(seen)}", column=sorted(absent)[0])


def _quiet_loads(text: str) -> Any:
    """JSON text, or None when it is not valid (the import itself then names the line)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


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


def csv_delimiter(file: str) -> str:
    """A tab for .tsv files (compressed too, any case), else a comma."""
    return "\t" if str(file).lower().endswith((".tsv", ".tsv.gz", ".tsv.bz2", ".tsv.zst")) else ","


def csv_text_batches(file: str, mapping: dict[str, str], size: int,
                     tweak: Callable[[pa.Table, int], pa.Table] | None = None,
                     drop: Collection[str] = ()) -> Iterator[pa.Table]:
    """The CSV's rows as text, columns renamed by ``mapping`` (less ``drop``), in batches of ``size`` rows."""
    from eventkit.store.csv_types import batches_of, read_text_csv

    reader = read_text_csv(file, delimiter=csv_delimiter(file))
    names = reader.schema.names
    keep = kept(names, drop, mapping)
    original = [names[i] for i in keep]
    new = renamed(original, mapping)
    check_header(new, original, mapping)
    seen = 0
    for batch in batches_of((pa.Table.from_batches([b]).select(keep) for b in reader), size):
        batch = batch.rename_columns(new)
        batch = tweak(batch, seen) if tweak is not None else batch
        if not seen:
            check_required(batch.column_names)
        yield batch
        seen += batch.num_rows
