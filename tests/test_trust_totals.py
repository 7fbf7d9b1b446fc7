"""Totals that were wrong by default: what a user naturally does with what eventkit returns gives the right
answer or fails loudly (integer sums past 64 bits, a scenario side with no streams, a shift past year
9999, empty text against missing in CSV exports)."""

from __future__ import annotations

import datetime as dt
import warnings

import duckdb
import pandas as pd
import pytest

import eventkit as ek
from eventkit.report.run import write_table

UTC = dt.timezone.utc


def _at(day: int) -> dt.datetime:
    return dt.datetime(2024, 1, day, tzinfo=UTC)


@pytest.fixture
def bank(tmp_path):
    with ek.open_store(tmp_path / "s") as store:
        for i, day in enumerate((1, 2, 3)):
            store.append(f"a{i}", [ek.Event("Deposited", {"amount": 10 * (i + 1)}, occurred_at=_at(day))],
                         stream_type="account")
        yield store


BALANCE = ek.Fold("account", fields={"balance": ek.sum("amount"), "deposits": ek.count()})


# -- (a) integer sums past 64 bits -------------------------------------------------------------------


def test_snapshots_whose_per_point_totals_can_pass_64_bits_warn(tmp_path):
    """pandas sums int64 with wrap-around: three balances of 2**62 summed per as_of gave -2**62. The
    series warns (naming the column and what to do) when a per-point total can pass 64 bits."""
    with ek.open_store(tmp_path / "s") as store:
        for i in range(3):
            store.append(f"a{i}", [ek.Event("Deposited", {"amount": 2**62}, occurred_at=_at(1))], stream_type="account")
        with pytest.warns(ek.EventKitWarning, match="'balance'.*64-bit") as caught:
            snap = BALANCE.snapshots(store, every="1D")
        assert "ek.aggregate" in str(caught[0].message)
        with pytest.raises(ek.InvalidInput, match="past 64-bit"):  # eventkit's own total refuses it
            ek.aggregate(snap, values={"balance": "sum"})
        assert snap.astype({"balance": float}).groupby("as_of")["balance"].sum().iloc[0] == 3 * 2.0**62


def test_ordinary_snapshots_do_not_warn(bank):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snap = BALANCE.snapshots(bank, every="1D")
    assert snap.groupby("as_of")["balance"].sum().tolist() == [10, 30, 60]


def test_a_trend_chart_of_integer_totals_past_64_bits_draws_the_true_total():
    series = pd.DataFrame({"as_of": pd.to_datetime(["2024-01-01"] * 3, utc=True), "stream_id": ["a", "b", "c"],
                           "balance": [2**62] * 3})
    from eventkit.analysis.charts import trend_lines

    fig = trend_lines(series, y="balance")
    assert fig.axes[0].lines[0].get_ydata()[0] == pytest.approx(3 * 2.0**62)


# -- (c) a scenario side with no streams ----------------------------------------------------------------


@pytest.mark.parametrize("values", [None, {"balance": ("balance", "sum"), "n": ("deposits", "count"),
                                           "avg": ("balance", "mean")}])
def test_compare_aggregate_of_a_scenario_with_no_streams_has_its_rows_at_zero(bank, values):
    scn = ek.Scenario(bank, name="none").drop(event_types=["Deposited"])
    got = scn.compare_aggregate(BALANCE, every="1D", values=values)
    base, none = got[got.scenario == "baseline"], got[got.scenario == "none"]
    assert len(base) == 3 and none["as_of"].tolist() == base["as_of"].tolist()
    assert none["streams"].tolist() == [0, 0, 0] and none["balance"].tolist() == [0, 0, 0]
    if values is not None:
        assert none["n"].tolist() == [0, 0, 0] and none["avg"].isna().all()
    else:
        assert none["deposits"].tolist() == [0, 0, 0]
    # what one naturally does: the effect at each point
    wide = got.pivot(index="as_of", columns="scenario", values="balance")
    assert (wide["none"] - wide["baseline"]).tolist() == [-10, -30, -60]


def test_compare_aggregate_by_a_category_with_no_scenario_streams(bank):
    fold = ek.Fold("account", fields={"balance": ek.sum("amount"), "kind": ek.last_event_type({"Deposited": "d"})})
    got = ek.Scenario(bank, name="none").drop(event_types=["Deposited"]).compare_aggregate(
        fold, every="1D", by="kind", values={"balance": ("balance", "sum")})
    none = got[got.scenario == "none"]
    assert len(none) == 3 and none["kind"].tolist() == ["d"] * 3 and none["balance"].tolist() == [0, 0, 0]


# -- (d) a shift past year 9999 -------------------------------------------------------------------------


def test_a_shift_past_year_9999_is_refused_when_made(tmp_path):
    with ek.open_store(tmp_path / "s") as store:
        store.append("a", [ek.Event("Deposited", {"amount": 1}, occurred_at=dt.datetime(9999, 12, 25, tzinfo=UTC))])
        store.append("b", [ek.Event("Deposited", {"amount": 1}, occurred_at=_at(1))])
        scn = ek.Scenario(store)
        with pytest.raises(ek.InvalidInput, match="9999") as e:
            scn.shift(by="30D")
        assert "'a'" in str(e.value)
        with pytest.raises(ek.InvalidInput, match="year 1"):
            scn.shift(by=dt.timedelta(days=-800_000), streams=["b"])
        ok = scn.shift(by="30D", streams=["b"])  # the events it moves stay in range
        assert ok.read_all().occurred_at.max() == dt.datetime(9999, 12, 25, tzinfo=UTC)
        scn.shift(by="6D")  # to 9999-12-31, the last day: fine


# -- (e) CSV exports: empty text and missing ------------------------------------------------------------


def test_a_report_table_tells_empty_text_from_missing(tmp_path):
    frame = pd.DataFrame({"name": pd.array(["Ann", "", None], dtype="str"), "note": ["x", "", None],
                          "amount": [1.5, None, 2.0]})
    path = write_table(frame, tmp_path / "t.csv")
    text = path.read_text()
    assert text.splitlines()[2:] == ['"","",', ",,2.000000"]
    back = duckdb.sql(f"SELECT * FROM read_csv('{path}', allow_quoted_nulls = false)").df()
    assert back["name"].tolist()[:2] == ["Ann", ""] and pd.isna(back["name"].iloc[2])


def test_the_cli_csv_output_tells_empty_text_from_missing(tmp_path):
    from click.testing import CliRunner

    from eventkit.cli import cli

    with ek.open_store(tmp_path / "s") as store:
        store.append("a", [ek.Event("Named", {"name": ""}), ek.Event("Named", {"name": None}),
                           ek.Event("Named", {"name": "Ann"})])
    result = CliRunner().invoke(cli, ["sql", str(tmp_path / "s"), "SELECT data.name, position FROM events ORDER BY position",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ['"",1', ",2", "Ann,3"]
    from eventkit.cli_output import write_frame  # eventkit state/snapshots -o x.csv

    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        out = tmp_path / f"o{suffix}"
        write_frame(pd.DataFrame({"name": pd.array(["", None, "Ann"], dtype="str"), "n": [1, 2, 3]}), str(out),
                    "table", 0)
        assert out.read_text().splitlines()[1:] == [f'""{sep}1', f"{sep}2", f"Ann{sep}3"]


def test_a_position_grid_near_2_63_is_not_taken_for_a_total():
    """The time column of an every=N series is an integer (a position): it is not summed, so it never warns."""
    from eventkit.fold.series import warn_wrapping_totals

    series = pd.DataFrame({"as_of": [2**62, 2**62], "stream_id": ["a", "b"], "bal": [10, 5],
                           "version": [1, 1], "position": [2**62, 2**62 - 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_wrapping_totals(series)
    with pytest.warns(ek.EventKitWarning, match="'bal'"):
        warn_wrapping_totals(series.assign(bal=[2**62, 2**62]))
