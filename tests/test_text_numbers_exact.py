"""Numbers written as text (CSV cells, JSON numbers) are stored as DOUBLE only when they read back.

The rule of decimals (tests/test_decimal_exact.py) for text: a number is stored as a float only when the
float's shortest form is the same number as the text. ``12345678901234567.89``, ``0.30000000000000001`` or
``1e-400`` would read back as other numbers: in a CSV they are bad cells (the import is refused naming the
line, or the rows go to --rejects; --as-text keeps the column as text); in JSON the file is refused naming
the line or event and the field. ``0.1``, ``2.50``, ``1e10``, ``-0.0``, ``3.14159`` are stored and read back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli

LOSSY = ["12345678901234567.89", "0.30000000000000001", "1e-400", "1e400", "9007199254740993.0"]
EXACT = ["0.1", "2.50", "1e10", "-0.0", "3.14159", "+1.5", "1.0E-7", ".5"]
EXACT_VALUES = [0.1, 2.5, 1e10, -0.0, 3.14159, 1.5, 1e-7, 0.5]


def _store(path: Path) -> Path:
    with ek.open_store(path) as s:
        s.append("seed", ek.Event("X", {"other": 1.0}))  # a store with data, so byte-identical means something
    return path


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args], input=input)


def _import(store: Path, file: Path, *extra: str):
    return _run("import", str(store), str(file), "--no-progress", *extra)


def _csv(tmp_path: Path, cells: list[str]) -> Path:
    file = tmp_path / "in.csv"
    file.write_text("stream_id,event_type,amount\n" + "".join(f"a,X,{c}\n" for c in cells))
    return file


def _amounts(store: Path) -> list:
    with ek.open_store(store) as s:
        return s.read_stream("a")["amount"].tolist()


@pytest.mark.parametrize("lossy", LOSSY)
def test_csv_import_refuses_a_number_a_float_cannot_hold(tmp_path, lossy):
    """A CSV cell a float would round is a bad cell: refused naming its line, store unchanged."""
    store = _store(tmp_path / "s")
    file = _csv(tmp_path, ["0.1", "2.50", lossy, "3.5"])
    before = store_fingerprint(store)
    out = _import(store, file)
    assert out.exit_code == 1, out.output
    assert "line 4" in out.output and lossy in out.output and "--as-text amount" in out.output, out.output
    assert store_fingerprint(store) == before


def test_csv_import_sets_lossy_cells_aside_with_rejects(tmp_path):
    """--rejects: the row with 12345678901234567.89 goes to the rejects file, the others are stored."""
    store = _store(tmp_path / "s")
    file = _csv(tmp_path, ["0.1", "12345678901234567.89", "2.50"])
    rejects = tmp_path / "rejects.csv"
    out = _import(store, file, "--rejects", str(rejects))
    assert out.exit_code == 0, out.output
    assert _amounts(store) == [0.1, 2.5]
    assert "12345678901234567.89" in rejects.read_text()


def test_csv_import_as_text_keeps_the_digits(tmp_path):
    """--as-text amount: the column is text, every digit kept."""
    store = _store(tmp_path / "s")
    file = _csv(tmp_path, ["0.1", "12345678901234567.89"])
    out = _import(store, file, "--as-text", "amount")
    assert out.exit_code == 0, out.output
    assert _amounts(store) == ["0.1", "12345678901234567.89"]


def test_csv_import_refuses_a_lossy_cell_in_a_field_the_store_holds_as_double(tmp_path):
    """The store's DOUBLE field does not make a rounded cell acceptable (unlike a leading zero)."""
    store = _store(tmp_path / "s")
    with ek.open_store(store) as s:
        s.append("b", ek.Event("X", {"amount": 1.5}))
    before = store_fingerprint(store)
    out = _import(store, _csv(tmp_path, ["0.30000000000000001"]))
    assert out.exit_code == 1, out.output
    assert store_fingerprint(store) == before


def test_csv_import_accepts_ordinary_numbers(tmp_path):
    """0.1, 2.50, 1e10, -0.0, 3.14159, +1.5, 1.0E-7, .5 are stored and read back as those numbers."""
    store = _store(tmp_path / "s")
    out = _import(store, _csv(tmp_path, EXACT))
    assert out.exit_code == 0, out.output
    got = _amounts(store)
    assert got == EXACT_VALUES
    assert math.copysign(1, got[3]) == -1


def test_csv_integers_keep_their_own_rule(tmp_path):
    """A column of integers is BIGINT (a 17-digit integer is exact); one beyond 64 bits is a bad cell."""
    store = _store(tmp_path / "s")
    out = _import(store, _csv(tmp_path, ["1", "12345678901234567"]))
    assert out.exit_code == 0, out.output
    assert _amounts(store) == [1, 12345678901234567]
    out = _import(_store(tmp_path / "t"), _csv(tmp_path, ["1", "2", "123456789012345678901"]))
    assert out.exit_code == 1 and "outside 64 bits" in out.output, out.output


def _events(values: list[str]) -> list[str]:
    return ['{"stream_id": "a", "event_type": "X", "amount": %s}' % v for v in values]


@pytest.mark.parametrize("lossy", LOSSY)
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_import_refuses_a_number_a_float_cannot_hold(tmp_path, lossy, suffix):
    """A JSON number a float would round refuses the file, naming the line/event and field; store unchanged."""
    store = _store(tmp_path / "s")
    file = tmp_path / f"in{suffix}"
    lines = _events(["0.1", lossy])
    file.write_text("[" + ",\n".join(lines) + "]" if suffix == ".json" else "\n".join(lines) + "\n")
    before = store_fingerprint(store)
    out = _import(store, file)
    assert out.exit_code == 1, out.output
    where = "event 2" if suffix == ".json" else "line 2"
    assert where in out.output and "'amount'" in out.output and lossy in out.output, out.output
    assert "string" in out.output, out.output
    assert store_fingerprint(store) == before


def test_json_import_refuses_a_lossy_number_in_data_and_metadata(tmp_path):
    """A nested payload ("data") and metadata are checked too."""
    store = _store(tmp_path / "s")
    file = tmp_path / "in.jsonl"
    file.write_text('{"stream_id": "a", "event_type": "X", "data": {"amount": 0.30000000000000001}}\n')
    before = store_fingerprint(store)
    out = _import(store, file)
    assert out.exit_code == 1 and "'amount'" in out.output, out.output
    file.write_text('{"stream_id": "a", "event_type": "X", "metadata": {"rate": 1e-400}}\n')
    out = _import(store, file)
    assert out.exit_code == 1 and "'rate'" in out.output, out.output
    assert store_fingerprint(store) == before


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_import_accepts_ordinary_numbers(tmp_path, suffix):
    """0.1, 2.50, 1e10, -0.0, 3.14159 ... in JSON are stored and read back as those numbers."""
    store = _store(tmp_path / "s")
    file = tmp_path / f"in{suffix}"
    values = [v.lstrip("+") if not v.startswith(".") else "0" + v for v in EXACT]  # JSON has no +1.5 or .5
    lines = _events(values)
    file.write_text("[" + ",\n".join(lines) + "]" if suffix == ".json" else "\n".join(lines) + "\n")
    out = _import(store, file)
    assert out.exit_code == 0, out.output
    assert _amounts(store) == EXACT_VALUES


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_append_refuses_a_lossy_json_number(tmp_path, source):
    """eventkit append of JSON lines holding 12345678901234567.89: refused naming the line and field."""
    store = _store(tmp_path / "s")
    text = "\n".join(_events(["0.1", "12345678901234567.89"])) + "\n"
    before = store_fingerprint(store)
    if source == "file":
        (tmp_path / "in.jsonl").write_text(text)
        out = _run("append", str(store), str(tmp_path / "in.jsonl"))
    else:
        out = _run("append", str(store), input=text)
    assert out.exit_code == 1, out.output
    assert "line 2" in out.output and "'amount'" in out.output and "string" in out.output, out.output
    assert store_fingerprint(store) == before


def test_append_accepts_ordinary_json_numbers(tmp_path):
    store = _store(tmp_path / "s")
    text = json.dumps([{"stream_id": "a", "event_type": "X", "amount": v} for v in EXACT_VALUES])
    out = _run("append", str(store), input=text.replace("10000000000.0", "1e10"))
    assert out.exit_code == 0, out.output
    assert _amounts(store) == EXACT_VALUES


def test_the_vectorised_csv_check_follows_the_python_rule():
    """csv_types' column check flags exactly the cells whose float's repr is another number than the text."""
    import decimal

    import numpy as np
    import pyarrow as pa

    from eventkit.store.csv_types import _lossy

    rng = np.random.default_rng(11)
    cells = [f"{'-+'[int(sign)] if sign < 2 else ''}{int(m)}{'.' + str(int(f)).rjust(int(w), '0') if w else ''}"
             f"{'0' * int(z)}{'e' + str(int(e)) if e else ''}"
             for sign, m, f, w, z, e in zip(rng.integers(0, 3, 400), rng.integers(0, 10**12, 400),
                                            rng.integers(0, 10**9, 400), rng.integers(0, 10, 400),
                                            rng.integers(0, 3, 400), rng.integers(-330, 330, 400) * rng.integers(0, 2, 400))]
    cells += EXACT + LOSSY + ["1.", "100", "100.000", "inf", "-Infinity", "5e-324", "2e-324", "1.7976931348623157e308"]
    want = [decimal.Decimal(repr(float(c))) != decimal.Decimal(c) for c in cells]
    got = _lossy(pa.array(cells), np.ones(len(cells), dtype=bool)).tolist()
    assert got == want
    assert set(want) == {True, False}  # the sample holds both kinds
