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
