"""The command line as a user runs it: `eventkit demo` end to end, `eventkit sql --known-at` a time."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


def run(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_builds_the_store_and_writes_the_report(tmp_path):
    """`eventkit demo` (small) builds the sample store where told, folds it and writes the report."""
    store, out = tmp_path / "bank", tmp_path / "reports" / "bank"
    output = run("demo", "--store", store, "--accounts", 40, "--out", out, "--no-flights", "--no-progress")
    assert (out / "index.html").exists() and list((out / "charts").iterdir()) and list((out / "tables").iterdir())
    assert f"open the report: {(out / 'index.html').resolve().as_uri()}" in output
    with ek.open_store(store) as s:
        events = s.read_all()
    assert events["stream_id"].nunique() == 40
    assert f"{len(events):,} in 40 streams" in output  # the store summary it prints is this store's


def test_sql_known_at_a_time_cuts_recorded_at(tmp_path):
    """--known-at an ISO time keeps the events recorded up to it (inclusive), like store.sql."""
    path = tmp_path / "s"
    with ek.open_store(path) as store:
        for i in range(4):
            store.append(f"a-{i}", [ek.Event("Deposited", {"amount": float(i + 1)})] * (i + 1))
        events = store.read_all()
    stamps = sorted(events["recorded_at"].unique())
    assert len(stamps) == 4
    query = "SELECT count(*) AS n, sum(data.amount) AS total FROM events"
    for t in stamps:
        for cut in (t, t - pd.Timedelta("1us")):
            out = run("sql", path, query, "--known-at", cut.isoformat(), "--format", "csv")
            got = pd.read_csv(io.StringIO(out))
            want = events[events["recorded_at"] <= cut]
            assert got["n"].tolist() == [len(want)]
            assert got["total"].fillna(0).tolist() == [want["amount"].sum()]
    out = run("sql", path, query, "--known-at", "3", "--format", "csv")
    assert pd.read_csv(io.StringIO(out))["n"].tolist() == [3]
