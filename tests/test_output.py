"""Output you can paste: `eventkit sql` CSV and JSON keep values exact and nested values as JSON."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


def _store(tmp_path):
    path = tmp_path / "s"
    with ek.open_store(path) as store:
        store.append("a/1", [ek.Event("Deposited", {"amount": 10, "note": "x/y"}, metadata={"source": "web/app"}),
                             ek.Event("Deposited", {"amount": 83, "note": None})], stream_type="account")
    return str(path)


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_writes_structs_and_maps_as_json_and_integer_sums_as_integers(tmp_path):
    """Regression: the data struct came out as a Python repr and sum(...) of integers as 93.0."""
    path = _store(tmp_path)
    out = _run("sql", path, "SELECT stream_id, data, metadata, sum(data.amount) OVER () AS total "
                            "FROM events ORDER BY position", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert json.loads(rows[0]["data"]) == {"amount": 10, "note": "x/y"}
    assert json.loads(rows[1]["data"]) == {"amount": 83, "note": None}
    assert json.loads(rows[0]["metadata"]) == {"source": "web/app"}
    assert [r["total"] for r in rows] == ["93", "93"]


def test_json_keeps_slashes_nested_values_and_big_integers_exact(tmp_path):
    path = _store(tmp_path)
    out = _run("sql", path, "SELECT stream_id, data, count(*) OVER () AS n, "
                            "170141183460469231731687303715884105727::HUGEINT AS huge FROM events LIMIT 1",
               "--format", "json")
    assert "\\/" not in out
    row = json.loads(out)[0]
    assert row["stream_id"] == "a/1" and row["data"] == {"amount": 10, "note": "x/y"}
    assert row["n"] == 2 and isinstance(row["n"], int)
    assert row["huge"] == "170141183460469231731687303715884105727"  # exact, past BIGINT


def test_table_prints_integer_sums_without_a_decimal_point(tmp_path):
    out = _run("sql", _store(tmp_path), "SELECT sum(data.amount) AS total FROM events")
    assert out.split() == ["total", "93"]


def test_flatten_writes_one_column_per_payload_field(tmp_path):
    """--flatten: the data struct as data.amount, data.note columns (nested structs too)."""
    path = _store(tmp_path)
    out = _run("sql", path, "SELECT stream_id, data, {'a': {'b': 1}} AS deep, metadata FROM events ORDER BY position",
               "--format", "csv", "--flatten")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["stream_id", "data.amount", "data.note", "deep.a.b", "metadata"]
    assert [(r["data.amount"], r["data.note"], r["deep.a.b"]) for r in rows] == [("10", "x/y", "1"), ("83", "", "1")]
    assert json.loads(rows[0]["metadata"]) == {"source": "web/app"}  # a map stays one JSON cell
    flat = json.loads(_run("sql", path, "SELECT data FROM events ORDER BY position", "--format", "json", "--flatten"))
    assert flat == [{"data.amount": 10, "data.note": "x/y"}, {"data.amount": 83, "data.note": None}]


def test_state_csv_of_amounts_with_cents_prints_their_cents(tmp_path):
    """Regression: a balance folded from amounts with two decimals printed as 9480.480000000001."""
    path = tmp_path / "s"
    amounts = [("Deposited", 1000.10), ("Deposited", 2000.20), ("Withdrawn", 40.07), ("Deposited", 199.93),
               ("Withdrawn", 0.10), ("Deposited", 0.10)] * 3
    with ek.open_store(path) as store:
        store.append("acct-1", [ek.Event(k, {"amount": a}) for k, a in amounts], stream_type="account")
    folds = tmp_path / "folds.py"
    folds.write_text("import eventkit as ek\n"
                     "account = ek.Fold('account', fields={'balance': ek.sum('amount', event_types='Deposited')"
                     " - ek.sum('amount', event_types='Withdrawn')})\n")
    _run("state", str(path), f"{folds}:account", "-o", str(tmp_path / "x.csv"))
    rows = list(csv.DictReader(open(tmp_path / "x.csv")))
    assert rows[0]["balance"] == "9480.48"
