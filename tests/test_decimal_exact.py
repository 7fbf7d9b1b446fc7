"""Decimals are stored as DOUBLE: one is accepted only when it reads back as the same number.

A decimal whose nearest float has a different shortest form (``Decimal(repr(float(d))) != d``, e.g.
``12345678901234567.89`` or a decimal(38,18) ``1.123456789012345678``) is refused up front, naming the
field and the values, with the store byte-identical; ``0.10`` or ``2.50`` are accepted and read back as
``0.1`` and ``2.5``. The same rule holds on every path: ``append``, ``append_frame`` (hot and bulk, from
an object column of Decimals or an Arrow decimal column) and ``eventkit import`` of a Parquet file.
"""

from __future__ import annotations

import decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli

D = decimal.Decimal
LOSSY = D("12345678901234567.89")
LOSSY_38_18 = D("1.123456789012345678")
BULK = 5_000  # ek.open_store's default bulk_threshold: a frame this long becomes a segment directly


def _store(path: Path) -> ek.Store:
    s = ek.open_store(path)
    assert s.bulk_threshold == BULK
    s.append("seed", ek.Event("X", {"amount": 1.0}))  # a store with data, so byte-identical means something
    return s


def _frame(values: list, rows: int, arrow_type: pa.DataType | None = None):
    values = (values * rows)[:rows] if len(values) < rows else values
    if arrow_type is None:
        return pd.DataFrame({"stream_id": "a", "event_type": "X", "amount": pd.Series(values, dtype=object)})
    return pa.table({"stream_id": pa.array(["a"] * len(values)), "event_type": pa.array(["X"] * len(values)),
                     "amount": pa.array(values, arrow_type)})


def _refused(s: ek.Store, path: Path, call, *shown: str) -> None:
    before = store_fingerprint(path)
    with pytest.raises(ek.InvalidInput) as e:
        call()
    message = str(e.value)
    assert "'amount'" in message and "text" in message and "cents" in message, message
    for value in shown:
        assert value in message, message
    assert store_fingerprint(path) == before


@pytest.mark.parametrize("value", [LOSSY, LOSSY_38_18, D("0.30000000000000001"), D("1e-400")])
def test_append_refuses_a_decimal_a_float_cannot_hold(tmp_path, value):
    """store.append of a Decimal that would read back as another number is refused, store unchanged."""
    s = _store(tmp_path / "s")
    _refused(s, tmp_path / "s", lambda: s.append("a", [ek.Event("X", {"amount": D("0.5")}),
                                                      ek.Event("X", {"amount": value})]), str(value))


def test_append_accepts_decimals_a_float_reads_back_as_the_same_number(tmp_path):
    """0.10, 2.50, 1.5 (and the decimal(38,18) spelling of 0.1) read back as 0.1, 2.5, 1.5, 0.1."""
    s = _store(tmp_path / "s")
    values = [D("0.10"), D("2.50"), D("1.5"), D("0.100000000000000000"), D("-0"), D("Infinity")]
    s.append("a", [ek.Event("X", {"amount": v}) for v in values])
    assert s.read_stream("a")["amount"].tolist() == [0.1, 2.5, 1.5, 0.1, 0.0, float("inf")]


@pytest.mark.parametrize("rows", [3, BULK], ids=["hot", "bulk"])
@pytest.mark.parametrize("arrow_type", [None, pa.decimal128(38, 18), pa.decimal256(40, 18)],
                         ids=["object-Decimals", "decimal128", "decimal256"])
def test_append_frame_refuses_a_lossy_decimal_hot_and_bulk(tmp_path, rows, arrow_type):
    """append_frame of a frame with one lossy decimal is refused whether it goes hot or to a segment."""
    s = _store(tmp_path / "s")
    lossy = LOSSY_38_18 if arrow_type is not None else LOSSY
    frame = _frame([D("0.10")] * (rows - 1) + [lossy], rows, arrow_type)
    _refused(s, tmp_path / "s", lambda: s.append_frame(frame), str(lossy))


@pytest.mark.parametrize("rows", [2, BULK], ids=["hot", "bulk"])
@pytest.mark.parametrize("arrow_type", [None, pa.decimal128(38, 18), pa.decimal128(10, 2)],
                         ids=["object-Decimals", "decimal38_18", "decimal10_2"])
def test_append_frame_accepts_exact_decimals_hot_and_bulk(tmp_path, rows, arrow_type):
    """decimal(38,18) 0.1 and 2.50 read back as 0.1 and 2.5 on both the hot and the bulk path."""
    s = _store(tmp_path / "s")
    s.append_frame(_frame([D("0.1"), D("2.50")], rows, arrow_type))
    got = s.read_stream("a")["amount"].tolist()
    assert got == ([0.1, 2.5] * rows)[:rows]
    assert s.fields["amount"] == "DOUBLE"


def _import(store: Path, file: Path):
    return CliRunner().invoke(cli, ["import", str(store), str(file), "--no-progress"])


def test_parquet_import_refuses_a_lossy_decimal_column(tmp_path):
    """eventkit import of a Parquet decimal(38,18) column holding 1.123456789012345678: refused, store unchanged."""
    _store(tmp_path / "s").close()
    file = tmp_path / "in.parquet"
    pq.write_table(_frame([D("0.1"), LOSSY_38_18], 2, pa.decimal128(38, 18)), file)
    before = store_fingerprint(tmp_path / "s")
    out = _import(tmp_path / "s", file)
    assert out.exit_code == 1, out.output
    assert "'amount'" in out.output and str(LOSSY_38_18) in out.output, out.output
    assert store_fingerprint(tmp_path / "s") == before


def test_parquet_import_accepts_exact_decimals(tmp_path):
    """eventkit import of a Parquet decimal(38,18) column of 0.1 and 2.50 reads back 0.1 and 2.5."""
    _store(tmp_path / "s").close()
    file = tmp_path / "in.parquet"
    pq.write_table(_frame([D("0.1"), D("2.50")], 2, pa.decimal128(38, 18)), file)
    out = _import(tmp_path / "s", file)
    assert out.exit_code == 0, out.output
    with ek.open_store(tmp_path / "s") as s:
        assert s.read_stream("a")["amount"].tolist() == [0.1, 2.5]


@pytest.mark.parametrize("arrow_type", [pa.decimal128(38, 18), pa.decimal256(70, 18)], ids=["wide-check", "value-by-value"])
def test_arrow_columns_and_python_values_follow_one_rule(arrow_type):
    """The vectorised column check accepts exactly the decimals the Python-value check accepts, and
    stores the same (nearest) float; decimal256 wider than 58 digits takes the value-by-value way."""
    import numpy as np

    from eventkit.store.decimals import float_column
    from eventkit.store.envelope import python_value

    rng = np.random.default_rng(7)
    values = [D(int(m) * 10 ** int(k) + int(extra)).scaleb(-int(e)) for m, k, extra, e in
              zip(rng.integers(-10**18, 10**18, 300), rng.integers(0, 2, 300), rng.integers(0, 100, 300),
                  rng.integers(0, 19, 300))]
    values += [D(0), D("1e-18"), D("1e-7"), D("0.1"), D("2.50"), D("1e19"), D("100"), LOSSY_38_18]
    outcomes = set()
    for v in values:
        try:
            want = python_value("x", v)[1]
        except ek.InvalidInput:
            want = None
        try:
            got = float_column("x", pa.array([v], arrow_type))[0].as_py()
        except ek.InvalidInput:
            got = None
        assert got == want, v
        outcomes.add(got is None)
    assert outcomes == {True, False}  # the sample holds both kinds


def test_a_pandas_arrow_decimal_column_is_checked(tmp_path):
    """A pandas column of ArrowDtype(decimal128(38, 18)) is checked as an Arrow column is."""
    s = _store(tmp_path / "s")
    frame = pd.DataFrame({"stream_id": ["a", "a"], "event_type": "X",
                          "amount": pd.array([D("2.50"), LOSSY_38_18], dtype=pd.ArrowDtype(pa.decimal128(38, 18)))})
    _refused(s, tmp_path / "s", lambda: s.append_frame(frame), str(LOSSY_38_18))
    s.append_frame(frame.iloc[:1])
    assert s.read_stream("a")["amount"].tolist() == [2.5]
