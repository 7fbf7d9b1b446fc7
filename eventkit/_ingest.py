"""Reading events from files for bulk loading: JSON, JSONL, CSV and Parquet into Arrow batches.

The command line's ``append`` and ``import`` use these, and so can a notebook: each function
returns Arrow tables in the shape :meth:`eventkit.Store.append_frame` takes (envelope columns by
name, payload flat), and reports bad input as :class:`eventkit.InvalidInput` naming the line,
event or column.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa

from ._batch import meta_json
from ._envelope import check_text
from ._errors import InvalidInput

ENVELOPE = ("stream_id", "event_type", "stream_type", "occurred_at", "event_id", "version", "metadata")
STRING_COLUMNS = ("stream_id", "event_type", "stream_type", "event_id")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}



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


def table_from_records(rows: list[dict[str, Any]]) -> pa.Table:
    names = dict.fromkeys(k for row in rows for k in row)
    columns = {}
    for name in names:
        check_text(name, "field name", envelope=False)
        values = [row.get(name) for row in rows]
        if name == "metadata":
            columns[name] = pa.array([metadata_json(v, f"event {i + 1}") for i, v in enumerate(values)], pa.string())
            continue
        try:
            columns[name] = pa.array(values)
        except UnicodeEncodeError:
            for i, v in enumerate(values):
                if isinstance(v, str):
                    check_text(v, f"field {name!r}", f"event {i + 1}", envelope=False)
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
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{source} line {n} is not valid JSON: {e}") from None
            yield record(obj, f"{source} line {n}", mapping)


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


def file_batches(file: str, fmt: str, mapping: dict[str, str], size: int) -> tuple[int | None, Iterator[pa.Table]]:
    """(total rows if known, batches of at most ``size`` rows, each ready for append_frame)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(file)
        return pf.metadata.num_rows, (prepare_table(pa.Table.from_batches([b]), mapping) for b in pf.iter_batches(batch_size=size))
    lines = None
    if Path(file).suffix not in (".gz", ".bz2", ".zst"):  # a total for the progress bar, at disk speed
        with open(file, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    if fmt == "jsonl":
        def jsonl() -> Iterator[pa.Table]:
            with open(file, encoding="utf-8") as f:
                events = json_lines(f, file, mapping)
                while chunk := list(itertools.islice(events, size)):
                    yield prepare_table(table_from_records(chunk), {})

        return lines, jsonl()
    import pyarrow.csv as pacsv

    as_text = {src for src, dst in mapping.items() if dst in STRING_COLUMNS} | set(STRING_COLUMNS)
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in as_text}, strings_can_be_null=True)
    parse = pacsv.ParseOptions(delimiter="\t" if file.endswith(".tsv") else ",")
    reader = pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=16 << 20), parse_options=parse,
                            convert_options=convert)

    def csv() -> Iterator[pa.Table]:
        pending = reader.schema.empty_table()
        for batch in reader:  # blocks of bytes, re-cut into batches of `size` rows
            pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
            while pending.num_rows >= size:
                yield prepare_table(pending.slice(0, size), mapping)
                pending = pending.slice(size)
        if pending.num_rows:
            yield prepare_table(pending, mapping)

    return (None if lines is None else max(lines - 1, 0)), csv()
