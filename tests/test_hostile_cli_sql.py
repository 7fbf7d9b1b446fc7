"""`eventkit sql` / store.sql given statements that write files: DuckDB's COPY ... TO and EXPORT DATABASE
wrote wherever they were told, the store's own catalog included (the store was gone: 'file is not a
database'). A write inside the store is refused, leaving it byte-identical; writes elsewhere work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import eventkit as ek
from conftest import store_fingerprint
from eventkit.cli import cli


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s"
    with ek.open_store(path) as s:
        s.append("a", [ek.Event("E", {"n": 1})])
        s.seal()
        s.append("a", [ek.Event("E", {"n": 2})])
    return path


@pytest.mark.parametrize("target", ["catalog.sqlite", "segments/_live.json", "export.csv", "sub/x.parquet"])
def test_copy_into_the_store_is_refused(store, target):
    before = store_fingerprint(store)
    where = str(store / target).replace("'", "''")
    out = CliRunner().invoke(cli, ["sql", str(store), f"COPY (SELECT * FROM events) TO '{where}' (FORMAT csv)"])
    assert out.exit_code == 1 and "inside the store" in out.output and "Traceback" not in out.output, out.output
    assert store_fingerprint(store) == before
    with ek.open_store(store) as s:
        assert s.verify().ok and len(s.read_all()) == 2


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1 AS x) TO 'catalog.sqlite' (FORMAT csv)",          # relative to the working folder
    "copy (select 1 as x) to './segments/../catalog.sqlite'",
    "COPY (SELECT 1 AS x) TO catalog.sqlite",                          # a bare name is a file name too
    'COPY (SELECT 1 AS x) TO "catalog.sqlite" (FORMAT csv)',            # and a quoted identifier
    "SELECT 1; EXPORT DATABASE 'dump'",
    "EXPORT DATABASE '.'",
])
def test_relative_and_hidden_writes_into_the_store_are_refused(store, monkeypatch, statement):
    monkeypatch.chdir(store)
    before = store_fingerprint(store)
    with ek.open_store(store) as s:
        with pytest.raises(ek.InvalidInput, match="inside the store"):
            s.sql(statement)
    assert store_fingerprint(store) == before


def test_copy_outside_the_store_works(store, tmp_path):
    out = tmp_path / "it's out.csv"
    where = str(out).replace("'", "''")
    result = CliRunner().invoke(cli, ["sql", str(store), f"COPY (SELECT data.n AS n FROM events ORDER BY 1) TO '{where}'"])
    assert result.exit_code == 0, result.output
    assert out.read_text().split() == ["n", "1", "2"]
    with ek.open_store(store) as s:
        assert s.sql("SELECT 'catalog.sqlite' AS name").fetchall() == [("catalog.sqlite",)]  # a string is not a write
