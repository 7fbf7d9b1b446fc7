"""Column types of a CSV file, decided from the whole file, and the cells that do not fit them.

A CSV holds text; its columns' types are inferred. Inferring from the first block (as a CSV
reader does) lets one dirty cell ("three" among numbers) turn a numeric field into text for the
whole store, silently. Here a column's type is the type most of its non-empty cells have, over the
whole file (or the type the store already holds the field as): a column is numbers when more than
half its cells are numbers, and the few cells that are not are *bad cells*, reported by line
(the header is line 1) or set aside, never a reason to change the column's type.

Kinds, in the order they are tried: numbers (BIGINT when every number is an integer, else
DOUBLE), BOOLEAN (true/false in any case), dates (DATE when every one is a plain date, else
TIMESTAMPTZ; ISO 8601, a time without a zone is UTC), otherwise VARCHAR. Empty cells and the usual
null spellings (NA, NULL, N/A, NaN, ...: :data:`NULL_SPELLINGS`) are nulls and fit every kind, with
two exceptions where the text is a value: stream ids and event types (a stream named ``NA`` is
Namibia, and JSON input stores it), and columns kept ``--as-text``. An integer outside 64 bits fits no
number kind: a DOUBLE would round it (two 20-digit account numbers would become one value); nor do
digits with a leading zero (zip code 02134 would become 2134): such columns are text. In a DOUBLE
column, a number whose float reads back as another number (``12345678901234567.89``, ``1e-400``: the rule
for decimals, decimals.py) is a bad cell, whatever the store holds the field as. A blank
``occurred_at`` among times is a bad cell (the event would silently get the time of the import);
a column with no time at all means "when recorded" for every row, as if it were not there.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, field
from typing import Any, Collection, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eventkit.common.errors import InvalidInput

TEXT_COLUMNS = ("stream_id", "event_type", "stream_type", "event_id", "metadata")
# Their text is always a value: a missing one is refused anyway, so reading "NA" as missing only ever
# refused a stream named NA. (stream_type and event_id keep reading it as missing, as they always did:
# ids derived by earlier imports stay the same.)
ID_COLUMNS = ("stream_id", "event_type")
#: Cells that mean "missing" (pyarrow's and pandas' list; R writes NA): null except in ID_COLUMNS
#: and --as-text columns.
NULL_SPELLINGS = ("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                  "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null")
REQUIRED = ("stream_id", "event_type")

_INT = r"^[+-]?[0-9]{1,19}$"  # 19 digits may pass int64: see _in_int64
_ANY_INT = r"^[+-]?[0-9]+$"
_LEADING_ZERO = r"^[+-]?0[0-9]+(\.[0-9]*)?$"  # a code (zip 02134), not a number: 2134 would lose it
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(inf|infinity)$"
_BOOL = r"^(true|false)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_KIND_NAMES = {"BIGINT": "integers", "DOUBLE": "numbers", "BOOLEAN": "true/false values",
               "DATE": "dates", "TIMESTAMPTZ": "times (ISO 8601)", "VARCHAR": "text"}
_KIND_ONE = {"BIGINT": "an integer", "DOUBLE": "a number", "BOOLEAN": "true or false",
             "DATE": "a date", "TIMESTAMPTZ": "an ISO 8601 time", "VARCHAR": "text"}


@dataclass
class _Counts:
    nonnull: int = 0
    int_: int = 0
    float_: int = 0
    bool_: int = 0
    time: int = 0
    date: int = 0
    zeros: int = 0  # numbers written with a leading zero (codes: 02134)
    lossy: int = 0  # numbers a float would store as other numbers (12345678901234567.89)
    lossy_zeros: int = 0  # of those, written with a leading zero (counted among zeros too)


def _fits(col: pa.Array, only: str | None = None) -> dict[str, np.ndarray]:
    """Per cell (string array): does it read as each kind (or only as ``only``)? Nulls fit all."""
    s = _trimmed(col)
    null = pc.is_null(s).to_numpy(zero_copy_only=False)
    if only == "TIMESTAMPTZ":
        return {"null": null, only: pc.is_valid(_parse_times(s)).to_numpy(zero_copy_only=False)}
    if only in ("BIGINT", "DOUBLE", "BOOLEAN"):
        pattern, case = {"BIGINT": (_INT, False), "DOUBLE": (_FLOAT, True), "BOOLEAN": (_BOOL, True)}[only]
        m = pc.fill_null(pc.match_substring_regex(s, pattern, ignore_case=case), False).to_numpy(zero_copy_only=False)
        if only == "DOUBLE":
            m = m & ~_huge_ints(s)
        zeros = pc.fill_null(pc.match_substring_regex(s, _LEADING_ZERO), False).to_numpy(zero_copy_only=False)
        out = {"null": null, only: _in_int64(s, m) if only == "BIGINT" else m, "ZEROS": zeros}
        if only == "DOUBLE":
            out["LOSSY"] = _lossy(s, m)
        return out

    def match(pattern: str, ignore_case: bool = False) -> np.ndarray:
        m = pc.match_substring_regex(s, pattern, ignore_case=ignore_case)
        return pc.fill_null(m, False).to_numpy(zero_copy_only=False)

    time_ok = match(r"^[0-9]{4}-[0-9]{2}")  # parse only what may be a time: text columns stay cheap
    if time_ok.any():
        time_ok[np.flatnonzero(time_ok)] = pc.is_valid(_parse_times(s.filter(pa.array(time_ok)))).to_numpy(zero_copy_only=False)
    numbers = match(_FLOAT, ignore_case=True) & ~_huge_ints(s)
    return {
        "null": null,
        "BIGINT": _in_int64(s, match(_INT)),
        "DOUBLE": numbers,
        "LOSSY": _lossy(s, numbers),
        "ZEROS": match(_LEADING_ZERO),
        "BOOLEAN": match(_BOOL, ignore_case=True),
        "TIMESTAMPTZ": time_ok,
        "DATE": time_ok & match(_DATE),
    }


def _in_int64(s: pa.Array, digits: np.ndarray) -> np.ndarray:
    """``digits`` (cells of 1 to 19 digits) less those outside BIGINT's range (19 digits only)."""
    long = np.flatnonzero(digits & (pc.fill_null(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False) >= 19))
    if len(long):
        out = digits.copy()
        values = s.take(pa.array(long)).to_pylist()
        out[long] = [-(2**63) <= int(v) < 2**63 for v in values]
        return out
    return digits


def _huge_ints(s: pa.Array) -> np.ndarray:
    """Per cell: an integer written out that BIGINT cannot hold (a DOUBLE would round it)."""
    m = pc.fill_null(pc.match_substring_regex(s, _ANY_INT), False).to_numpy(zero_copy_only=False)
    long = m & (pc.fill_null(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False) >= 19)
    out = np.zeros(len(s), dtype=bool)
    where = np.flatnonzero(long)
    if len(where):
        out[where] |= [not -(2**63) <= int(v) < 2**63 for v in s.take(pa.array(where)).to_pylist()]
    return out


def _lossy(s: pa.Array, numbers: np.ndarray) -> np.ndarray:
    """Per cell (trimmed text; ``numbers``: cells that read as numbers): a number whose float reads back
    as another number (``12345678901234567.89``, ``0.30000000000000001``, ``1e-400``): the rule for
    decimals (decimals.py), for text.

    Vectorised as decimals.py is: the float's shortest text (Arrow writes what Python's repr does) is
    compared with the cell's text less a leading ``+`` and, in a plain fraction, trailing zeros (``2.50``
    is ``2.5``); only cells whose texts differ (``1e10``, ``.5``, the lossy ones) are compared as numbers.
    """
    if not numbers.any():
        return np.zeros(len(s), dtype=bool)
    text = pc.utf8_ltrim(pc.utf8_lower(pc.if_else(pa.array(numbers), s, pa.scalar(None, pa.string()))), "+")
    float_text = pc.cast(pc.cast(text, pa.float64()), pa.string())
    fraction = pc.and_(pc.match_substring(text, "."), pc.invert(pc.match_substring(text, "e")))
    text = pc.if_else(fraction, pc.utf8_rtrim(pc.utf8_rtrim(text, "0"), "."), text)
    differ = np.flatnonzero(~pc.fill_null(pc.equal(text, float_text), True).to_numpy(zero_copy_only=False))
    out = np.zeros(len(s), dtype=bool)
    if len(differ):
        where = pa.array(differ)
        out[differ] = [decimal.Decimal(a) != decimal.Decimal(b) for a, b in
                       zip(text.take(where).to_pylist(), float_text.take(where).to_pylist())]
    return out


def _trimmed(col: pa.Array) -> pa.Array:
    """Text without surrounding blanks; a blank cell or a null spelling is null."""
    s = pc.utf8_trim_whitespace(col)
    missing = pc.or_kleene(pc.equal(s, ""), pc.is_in(s, _SPELLINGS))
    return pc.if_else(missing, pa.scalar(None, pa.string()), s)


_SPELLINGS = pa.array(NULL_SPELLINGS, pa.string())


def null_spelt(col: pa.Array) -> pa.Array:
    """``col`` with cells that are exactly a null spelling made null (as CSV readers read them)."""
    return pc.if_else(pc.fill_null(pc.is_in(col, _SPELLINGS), False), pa.scalar(None, pa.string()), col)


def spelt_as_before(table: pa.Table) -> pa.Table:
    """The batch as the CSV reader gave it before ids and ``--as-text`` kept null spellings: what
    derived event ids hash, so that a file imported by an earlier eventkit imports nothing twice."""
    for i, name in enumerate(table.column_names):
        if name not in ID_COLUMNS:
            table = table.set_column(i, name, null_spelt(table.column(name).combine_chunks()))
    return table


@dataclass
class Profile:
    """What pass one over the file learnt: per column, how many cells read as each kind."""

    counts: dict[str, _Counts] = field(default_factory=dict)
    rows: int = 0
    required_empty: int = 0
    spelt_null: dict[str, int] = field(default_factory=dict)  # per column: cells that are a null spelling

    def add(self, table: pa.Table) -> None:
        for name in table.column_names:
            if name in REQUIRED:
                self.required_empty += table.column(name).combine_chunks().null_count  # blank cells read as null
            if name in TEXT_COLUMNS:
                continue
            spelt = pc.sum(pc.is_in(table.column(name), _SPELLINGS)).as_py() or 0
            if spelt:
                self.spelt_null[name] = self.spelt_null.get(name, 0) + spelt
            fixed = {"occurred_at": "TIMESTAMPTZ", "version": "BIGINT"}.get(name)  # kinds the envelope fixes
            fits = _fits(table.column(name).combine_chunks(), only=fixed)
            if fixed:
                fits = {"BIGINT": fits[fixed], "DOUBLE": fits[fixed], "BOOLEAN": fits[fixed],
                        "TIMESTAMPTZ": fits[fixed], "DATE": fits[fixed], "null": fits["null"]}
            c = self.counts.setdefault(name, _Counts())
            valid = ~fits["null"]
            c.nonnull += int(valid.sum())
            c.int_ += int((fits["BIGINT"] & valid).sum())
            c.float_ += int((fits["DOUBLE"] & valid).sum())
            c.bool_ += int((fits["BOOLEAN"] & valid).sum())
            c.time += int((fits["TIMESTAMPTZ"] & valid).sum())
            c.date += int((fits["DATE"] & valid).sum())
            c.zeros += int((fits.get("ZEROS", False) & fits["DOUBLE"] & valid).sum())
            lossy = fits.get("LOSSY", False) & fits["DOUBLE"] & valid
            c.lossy += int(lossy.sum())
            c.lossy_zeros += int((lossy & fits.get("ZEROS", False)).sum())
        self.rows += table.num_rows


def decide_kinds(profile: Profile, store_fields: Mapping[str, str], as_text: set[str]) -> dict[str, str | None]:
    """Each column's kind (a DuckDB type; None: every cell is null) from the whole file."""
    kinds: dict[str, str | None] = {}
    for name, c in profile.counts.items():
        stored = store_fields.get(name)
        if name == "version":
            kinds[name] = "BIGINT"
        elif name == "occurred_at":  # no time at all: every event "when recorded" (as without the column)
            kinds[name] = "TIMESTAMPTZ" if c.nonnull else None
        elif name in as_text or stored == "VARCHAR":
            kinds[name] = "VARCHAR"
        elif stored in ("BIGINT", "DOUBLE"):
            kinds[name] = "BIGINT" if stored == "BIGINT" and c.int_ == c.float_ else "DOUBLE"
        elif stored in ("BOOLEAN", "DATE", "TIMESTAMPTZ"):
            kinds[name] = stored
        elif c.nonnull == 0:
            kinds[name] = None
        elif (c.float_ - c.zeros) * 2 > c.nonnull:  # numbers; those with a leading zero are bad cells
            kinds[name] = "BIGINT" if c.int_ == c.float_ else "DOUBLE"
        elif c.float_ * 2 > c.nonnull:  # mostly digits with leading zeros: codes (zip 02134), kept as text
            kinds[name] = "VARCHAR"
        elif c.bool_ * 2 > c.nonnull:
            kinds[name] = "BOOLEAN"
        elif c.time * 2 > c.nonnull:
            kinds[name] = "DATE" if c.date == c.time else "TIMESTAMPTZ"
        else:
            kinds[name] = "VARCHAR"
    return kinds


def numbers_in_store(store_fields: Mapping[str, str]) -> frozenset[str]:
    """Fields the store already holds as numbers: its type decides, so a leading zero is just a number."""
    return frozenset(name for name, kind in store_fields.items() if kind in ("BIGINT", "DOUBLE"))


def bad_cell_count(profile: Profile, kinds: Mapping[str, str | None], stored: Collection[str] = ()) -> int:
    """How many cells (over the whole file) do not fit their column's kind (``stored``: numbers_in_store)."""
    total = profile.required_empty
    if kinds.get("occurred_at"):
        total += profile.rows - profile.counts["occurred_at"].nonnull  # blank times among times
    for name, kind in kinds.items():
        c = profile.counts[name]
        ok = {"BIGINT": c.float_ if name != "version" else c.int_, "DOUBLE": c.float_, "BOOLEAN": c.bool_,
              "DATE": c.date, "TIMESTAMPTZ": c.time}.get(kind or "", c.nonnull)
        if kind in ("BIGINT", "DOUBLE") and name != "version" and name not in stored:
            ok -= c.zeros
        if kind == "DOUBLE" and name != "version":  # a float would round them, whatever the store holds
            ok -= c.lossy - (c.lossy_zeros if name not in stored else 0)
        total += c.nonnull - ok
    return total


def missing_text(profile: Profile, kinds: Mapping[str, str | None], as_text: set[str]) -> dict[str, int]:
    """Text columns whose null spellings (``NA``...) the import stores as missing: column -> cells."""
    return {c: n for c, n in profile.spelt_null.items() if kinds.get(c) == "VARCHAR" and c not in as_text}


def convert(table: pa.Table, kinds: Mapping[str, str | None], as_text: Collection[str] = (),
            stored: Collection[str] = ()) -> tuple[pa.Table, np.ndarray, list[str]]:
    """Typed columns for a batch of text, a mask of bad rows and, per bad row, why.

    Bad rows come back as nulls in the typed table; the caller drops or refuses them. Null
    spellings are nulls except in ids, event types and ``as_text`` columns. A number with a leading
    zero is a bad cell unless the store holds the field as a number (``stored``).
    """
    n = table.num_rows
    bad = np.zeros(n, dtype=bool)
    reasons = [""] * n
    columns = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name not in ID_COLUMNS and name not in as_text:
            col = null_spelt(col)
        if name in REQUIRED:
            _mark(bad, reasons, pc.is_null(col).to_numpy(zero_copy_only=False), f"{name} is empty")
        kind = kinds.get(name, "VARCHAR")
        if name in TEXT_COLUMNS or kind == "VARCHAR":
            columns[name] = col
            continue
        if kind is None:
            columns[name] = pa.nulls(n)
            continue
        need = "DOUBLE" if kind == "BIGINT" and name != "version" else kind
        if kind == "TIMESTAMPTZ":  # parse once: the parsed times are the column
            trimmed = _trimmed(col)
            times = _parse_times(trimmed)
            wrong = pc.and_(pc.is_null(times), pc.is_valid(trimmed)).to_numpy(zero_copy_only=False)
            if name == "occurred_at":  # among times, a blank would silently become the time of the import
                _mark(bad, reasons, pc.is_null(trimmed).to_numpy(zero_copy_only=False),
                      "occurred_at is empty (the event would get the time of the import)")
            _mark_wrong(bad, reasons, wrong, col, name, kind)
            columns[name] = times.cast(pa.timestamp("us", tz="UTC"))
            continue
        fits = _fits(col, only=need)
        ok = fits["null"] | fits[need]
        if need == "DOUBLE" and name not in stored:
            ok &= ~fits["ZEROS"]
        lossy = fits["LOSSY"] & ok if kind == "DOUBLE" else None  # BIGINT: every cell an int64, exact
        wrong = ~ok if lossy is None else ~ok | lossy
        _mark_wrong(bad, reasons, wrong, col, name, kind, lossy)
        clean = pc.if_else(pa.array(wrong), pa.scalar(None, pa.string()), _trimmed(col))
        columns[name] = _cast(clean, kind)
    return pa.table(columns), bad, reasons


def _mark_wrong(bad: np.ndarray, reasons: list[str], wrong: np.ndarray, col: pa.Array, name: str, kind: str,
                lossy: np.ndarray | None = None) -> None:
    if wrong.any():
        values = col.take(pa.array(np.flatnonzero(wrong))).to_pylist()
        wanted = _KIND_ONE["DOUBLE" if kind == "BIGINT" and name != "version" else kind]
        huge = kind in ("BIGINT", "DOUBLE") and name != "version"
        for i, value in zip(np.flatnonzero(wrong), values):
            if lossy is not None and lossy[i]:
                why = (f"{name} {value!r} would be stored as {float(value.strip())!r}, another number (a 64-bit float "
                       f"holds about 15 significant digits; --as-text {name} keeps the column as text)")
            elif huge and re.fullmatch(_LEADING_ZERO, value.strip()):
                why = (f"{name} {value!r} has a leading zero, which a number would lose (a code? --as-text {name} "
                       "keeps the column as text)")
            elif huge and re.fullmatch(_ANY_INT, value.strip()):
                why = f"{name} {value!r} is an integer outside 64 bits (--as-text {name} keeps the column as text)"
            else:
                why = f"{name} {value!r} is not {wanted}"
            _mark_one(bad, reasons, i, why)


def _parse_times(s: pa.Array) -> pa.Array:
    """ISO 8601 text as UTC times (a time without a zone is UTC); null where it is not a time."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_t", pa.table({"s": s}))
        return con.sql("SELECT TRY_CAST(s AS TIMESTAMPTZ) AS t FROM _t").to_arrow_table().column("t").combine_chunks()
    finally:
        con.close()


def _mark(bad: np.ndarray, reasons: list[str], mask: np.ndarray, why: str) -> None:
    for i in np.flatnonzero(mask):
        _mark_one(bad, reasons, i, why)


def _mark_one(bad: np.ndarray, reasons: list[str], i: int, why: str) -> None:
    bad[i] = True
    reasons[i] = f"{reasons[i]}; {why}" if reasons[i] else why


def _cast(col: pa.Array, kind: str) -> pa.Array:
    if kind == "BIGINT":
        return pc.cast(col, pa.int64())
    if kind == "DOUBLE":
        return pc.cast(pc.utf8_lower(col), pa.float64())
    if kind == "BOOLEAN":
        return pc.equal(pc.utf8_lower(col), "true")
    if kind == "DATE":
        return pc.cast(col, pa.date32())
    return _parse_times(col).cast(pa.timestamp("us", tz="UTC"))


def refuse(file: str, bad: list[tuple[int, str]], total: int, kinds: Mapping[str, str | None],
           columns: list[str]) -> InvalidInput:
    """The error for bad cells found before anything was stored."""
    shown = "; ".join(f"line {line}: {why}" for line, why in bad[:5])
    typed = ", ".join(f"{c}: {_KIND_NAMES[k]}" for c, k in kinds.items() if k and c in columns)
    return InvalidInput(
        f"{file}: {total:,} cell(s) do not fit their column's type, which is decided from the whole "
        f"file ({typed}): {shown}{' ...' if total > 5 else ''} (line numbers count the header as "
        "line 1); nothing was imported. Fix these cells, set their rows aside with --rejects FILE, "
        "or keep a column as text with --as-text COLUMN",
    )


def batches_of(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of tables into tables of exactly ``size`` rows (the last may be shorter)."""
    pending: list[pa.Table] = []
    held = 0
    for t in tables:
        pending.append(t)
        held += t.num_rows
        while held >= size:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, size)
            rest = whole.slice(size)
            pending, held = [rest], rest.num_rows
    if held:
        yield pa.concat_tables(pending)


_CODECS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}


def open_bytes(file: str) -> Any:
    """``file`` as a binary stream, decompressed by its suffix in any case (.gz, .GZ, .bz2, .zst):
    pyarrow's own detection knows lower-case suffixes only, and Python's ``open`` none."""
    from pathlib import Path

    return pa.input_stream(str(file), compression=_CODECS.get(Path(str(file)).suffix.lower()))


class CsvLines:
    """The file line of each data row of a CSV (the header is line 1), for messages and rejects.

    Row ``i`` is line ``i + 2`` unless a cell spans lines or a line is blank (the reader skips it);
    then the file is read once more, with Python's csv module, the first time a line is asked for.
    """

    def __init__(self, file: str, delimiter: str, rows: int) -> None:
        self.file, self.delimiter, self.rows = file, delimiter, rows
        self._starts: np.ndarray | None = None
        self._plain: bool | None = None

    def __call__(self, rows: Any) -> Any:
        """Line number(s) of 0-based data row(s) (an int or an integer array)."""
        if self._plain is None:
            self._plain = self._lines_are_rows()
        if self._plain:
            return rows + 2
        if self._starts is None:
            self._starts = self._scan()
        out = self._starts[np.minimum(rows, len(self._starts) - 1)] if len(self._starts) else np.asarray(rows) + 2
        return int(out) if np.ndim(out) == 0 else out

    def _lines_are_rows(self) -> bool:
        with open_bytes(self.file) as f:
            newlines, last = 0, b""
            while chunk := f.read(1 << 22):
                newlines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
                last = chunk[-1:]
        return newlines + (last not in (b"\n", b"\r", b"")) == self.rows + 1

    def _scan(self) -> np.ndarray:
        import csv
        import io
        import sys

        limit = csv.field_size_limit()
        csv.field_size_limit(sys.maxsize)  # a cell of megabytes is a cell, not an error here
        starts, previous = [], 0
        try:
            with io.TextIOWrapper(open_bytes(self.file), encoding="utf-8-sig", newline="") as text:
                reader = csv.reader(text, delimiter=self.delimiter)
                for record in reader:
                    if record:
                        starts.append(previous + 1)
                    previous = reader.line_num
        except (csv.Error, UnicodeDecodeError, OSError):
            return np.arange(self.rows, dtype=np.int64) + 2  # the reader's own error is reported elsewhere
        finally:
            csv.field_size_limit(limit)
        return np.asarray(starts[1:], dtype=np.int64)


def read_text_csv(file: str, *, delimiter: str, block_size: int = 16 << 20) -> Any:
    """A streaming reader giving every column as text (nulls for empty cells only: whether ``NA`` is
    missing depends on the column, see :func:`convert`)."""
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter=delimiter)
    first = pacsv.open_csv(open_bytes(file), read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse)
    names = first.schema.names
    first.close()
    convert_options = pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, strings_can_be_null=True,
                                           null_values=[""])
    return pacsv.open_csv(open_bytes(file), read_options=pacsv.ReadOptions(block_size=block_size), parse_options=parse,
                          convert_options=convert_options)
