"""What a reader sees on a report's page: headline figures first (from the config, or a default),
each series table once, long tables trimmed with a link to every row, labels that say each thing
once, sort keys and a scenario ranking the config names, axis labels and units from the config,
thousands separators, times in the report's zone, and a page that travels alone (embedded charts)."""

from __future__ import annotations

import base64
import html as html_lib
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from eventkit import report as rp
from eventkit.analysis import chart_parts, charts
from eventkit.demo import build_sample_store
from eventkit.report.scenario import plural, ranked_streams

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ROOT / "examples" / "bank_folds.py"

CONFIG = """\
title = "Page check"
tz = "Europe/Zurich"
[store]
path = "{store}"
[units]
balance = "currency"
fees = "currency"
[folds]
account = "{folds}:account"
[series.balance]
fold = "account"
every = "1W"
by = "currency"
values = {{ total = ["balance", "sum"], accounts = ["stream_id", "count"] }}
[series.status]
fold = "account"
every = "1W"
by = "status"
values = {{ accounts = ["stream_id", "count"] }}
[charts.balance]
kind = "trend_lines"
series = "balance"
y = "total"
by = "currency"
title = "Balance by currency"
y_label = "money held (each currency)"
x_label = "week"
[charts.accounts]
kind = "trend_lines"
series = "balance"
y = "accounts"
by = "currency"
title = "Accounts by currency"
unit = "accounts"
[charts.status]
kind = "stacked_area"
series = "status"
y = "accounts"
by = "status"
title = "Accounts by status"
[scenarios.no_fees]
fold = "account"
every = "1W"
by = "currency"
drop = {{ event_types = ["FeeCharged"] }}
rank_by = "fees"
top = 5
[charts.no_fees]
kind = "overlay"
scenario = "no_fees"
y = "balance"
query = "currency == 'USD'"
unit = "USD"
title = "USD balance without fees"
[tables.top]
fold = "account"
columns = ["stream_id", "currency", "status", "balance"]
sort = ["currency", "-balance"]
[output]
max_table_rows = 7
"""

HEADLINES = """\
[headlines.usd]
label = "USD held"
series = "balance"
y = "total"
query = "currency == 'USD'"
unit = "USD"
[headlines.effect]
label = "Fees' effect"
scenario = "no_fees"
y = "balance"
query = "currency == 'USD'"
unit = "USD"
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("page") / "store"
    build_sample_store(path, accounts=40, events_per_account=15, progress=False).close()
    return path


def write(store: Path, tmp: Path, extra: str = "", **kw) -> rp.Report:
    (tmp / "r.toml").write_text(CONFIG.format(store=store, folds=FOLDS) + extra)
    return rp.write_report(tmp / "r.toml", out=tmp / "out", progress=False, **kw)


@pytest.fixture(scope="module")
def page(store, tmp_path_factory) -> rp.Report:
    return write(store, tmp_path_factory.mktemp("default"))


def figures(html: str) -> list[dict[str, str]]:
    block = re.search(r'<section id="headlines".*?</section>', html, re.S)
    assert block, "no headline figures on the page"
    out = []
    for cell in re.findall(r'<div class="figure">(.*?)</div></div>', block.group(0) + "</div>", re.S):
        text = {k: html_lib.unescape(re.sub(r"<[^>]+>", "", v)) for k, v in
                re.findall(r'<div class="(label|value|note)">(.*?)</div>', cell + "</div>", re.S)}
        out.append(text)
    return out


def number(text: str) -> float:
    return float(text.replace(",", "").replace("−", "-").split("<")[0].replace("USD", ""))


# -- item 7: headline figures, tables once, trimmed, no redundant labels ---------------------------
def test_configured_headlines_come_first_and_equal_the_tables(store, tmp_path):
    report = write(store, tmp_path, HEADLINES)
    html = report.index.read_text()
    assert html.index('id="headlines"') < html.index('id="store"') < html.index('id="chart-balance"')
    got = figures(html)
    assert [f["label"] for f in got] == ["USD held", "Fees' effect"]
    balance = pd.read_csv(report.path / "tables" / "balance.csv")
    usd = balance[balance["currency"] == "USD"]
    last, before = usd.iloc[-1], usd.iloc[-2]
    assert number(got[0]["value"]) == pytest.approx(last["total"], abs=0.005)
    assert f"{last['total'] - before['total']:+,.2f}".replace("-", "−") in got[0]["note"]
    overlay = pd.read_csv(report.path / "tables" / "no_fees.csv")
    usd = overlay[overlay["currency"] == "USD"]
    end = usd[usd["as_of"] == usd["as_of"].max()].set_index("scenario")["balance"]
    assert number(got[1]["value"]) == pytest.approx(end["no_fees"] - end["baseline"], abs=0.005)
    assert number(got[1]["value"]) > 0  # without the fees there is more money


def test_default_headlines_show_each_charts_latest_value_and_the_what_if_effect(page):
    got = figures(page.index.read_text())
    labels = [f["label"] for f in got]
    # Lines by currency: a figure per large currency, in its own unit; the stacked area: its total.
    assert any(x.startswith("Balance by currency: USD") for x in labels), labels
    status = pd.read_csv(page.path / "tables" / "status.csv")
    total = status[status["as_of"] == status["as_of"].max()]["accounts"].sum()
    assert {"label": "Accounts by status", "value": f"{total:,}"}.items() <= {
        k: v for k, v in got[labels.index("Accounts by status")].items() if k != "note"}.items()
    assert labels[-1] == "USD balance without fees" and got[-1]["value"][0] in "+−0"
    assert len(got) <= 8


def test_a_headline_adding_currencies_is_a_config_error(store, tmp_path):
    bad = HEADLINES.replace('query = "currency == \'USD\'"\nunit = "USD"\n[headlines.effect]',
                            '[headlines.effect]')
    with pytest.raises(rp.ReportConfigError, match=r"headlines.usd would add 'balance' across currency"):
        write(store, tmp_path, bad)


def test_a_headline_naming_a_missing_column_names_its_line_and_the_closest(store, tmp_path):
    bad = HEADLINES.replace('y = "total"', 'y = "totl"')
    with pytest.raises(rp.ReportConfigError) as info:
        write(store, tmp_path, bad)
    line = (CONFIG + bad).splitlines().index('y = "totl"') + 1
    assert info.value.line == line and "did you mean 'total'" in str(info.value)


def test_a_series_table_is_shown_under_its_first_chart_only(page):
    html = page.index.read_text()
    sections = dict(re.findall(r'<section id="(chart-\w+)">(.*?)</section>', html, re.S))
    assert "<table>" in sections["chart-balance"]
    assert "<table>" not in sections["chart-accounts"]
    assert 'Its table is shown under <a href="#chart-balance">Balance by currency</a>' in sections["chart-accounts"]
    assert 'href="tables/balance.csv"' in sections["chart-accounts"]  # the whole table, a click away


def test_long_tables_show_their_first_rows_and_link_every_row(page):
    html = page.index.read_text()
    top = re.search(r'<section id="table-top">(.*?)</section>', html, re.S).group(1)
    assert top.count("<tr>") == 1 + 7  # heading + max_table_rows
    assert 'the first 7 of 40 rows; all of them in <a href="tables/top.csv">' in top
    assert len(pd.read_csv(page.path / "tables" / "top.csv")) == 40
    assert rp.run.MAX_TABLE_ROWS == 20  # the default


def test_labels_say_each_thing_once(page):
    html = page.index.read_text()
    assert "accounts (accounts)" not in html
    fig = charts.trend_lines(pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=2, tz="UTC"),
                                           "accounts": [1, 2]}), y="accounts", unit="accounts")
    assert fig.axes[0].get_ylabel() == "accounts"
    assert plural(1, "stream") == "1 stream" and plural(2_000, "stream") == "2,000 streams"


def test_one_stream_that_differs_is_said_in_the_singular():
    cfg = rp.load_config({"store": {"path": "x"}})
    streams = pd.DataFrame({"stream_id": ["a"], "balance_baseline": [1.0], "balance_scenario": [2.0],
                            "balance_diff": [1.0]})
    _, notes = ranked_streams(streams, rank_by=None, top=20, cfg=cfg, key="k")
    assert notes == ["1 stream differs from the baseline; the 1 stream with the largest balance_diff is shown."]


# -- item 8: sort keys, table queries, the scenario's ranking --------------------------------------
def test_sort_keys_with_a_minus_sort_largest_first(page):
    top = pd.read_csv(page.path / "tables" / "top.csv")
    expected = top.sort_values(["currency", "balance", "stream_id"], ascending=[True, False, True])
    assert top["stream_id"].tolist() == expected["stream_id"].tolist()
    assert not top["balance"].is_monotonic_decreasing  # currency first, then the balance within it


def test_a_misspelt_sort_key_names_its_line_and_the_closest_column(store, tmp_path):
    (tmp_path / "r.toml").write_text(CONFIG.format(store=store, folds=FOLDS).replace('"-balance"]', '"-balanse"]'))
    with pytest.raises(rp.ReportConfigError) as info:
        rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False)
    assert info.value.key == "tables.top.sort"
    assert info.value.line == CONFIG.splitlines().index('sort = ["currency", "-balance"]') + 1
    assert "did you mean 'balance'" in str(info.value) and "leading -" in str(info.value)


def test_the_scenario_table_ranks_by_the_field_the_config_names(page):
    html = page.index.read_text()
    section = re.search(r'<section id="scenario-no_fees">(.*?)</section>', html, re.S).group(1)
    assert "the largest fees_diff are shown" in section
    streams = pd.read_csv(page.path / "tables" / "no_fees_streams.csv")
    heads = re.findall(r"<th[^>]*>([^<]+)</th>", section)
    assert heads[:4] == ["stream_id", "fees_baseline", "fees_scenario", "fees_diff"]
    shown = [float(x.replace(",", "")) for x in
             re.findall(r"<tr>(?:<td[^>]*>[^<]*</td>){3}<td>([^<]+)</td>", section)]
    expected = streams["fees_diff"].abs().sort_values(ascending=False).head(5)
    assert [abs(x) for x in shown] == pytest.approx(expected.tolist(), abs=0.005)


def test_rank_by_a_missing_field_is_a_config_error(store, tmp_path):
    (tmp_path / "r.toml").write_text(CONFIG.format(store=store, folds=FOLDS).replace('rank_by = "fees"',
                                                                                      'rank_by = "fess"'))
    with pytest.raises(rp.ReportConfigError, match=r"scenarios.no_fees.rank_by = 'fess'.*did you mean 'fees'"):
        rp.write_report(tmp_path / "r.toml", out=tmp_path / "out", progress=False)


def test_a_table_query_picks_its_rows(store, tmp_path):
    extra = '[tables.usd]\nfold = "account"\nquery = "currency == \'USD\'"\nsort = "-balance"\n'
    report = write(store, tmp_path, extra)
    usd = pd.read_csv(report.path / "tables" / "usd.csv")
    with ek.open_store(store) as st:
        (n,), = st.sql("SELECT count(DISTINCT stream_id) FROM events WHERE data.currency = 'USD'").fetchall()
    assert n and len(usd) == n and set(usd["currency"]) == {"USD"}
    assert usd["balance"].is_monotonic_decreasing


# -- item 9: axis labels and units from the config, thousands separators, the report's zone --------
def test_axis_labels_come_from_the_config_in_the_reports_zone(store, tmp_path, monkeypatch):
    seen = {}
    real = charts.save_figure

    def keep(fig, path, **kw):
        seen[Path(path).name] = [(ax.get_ylabel(), ax.get_xlabel()) for ax in fig.axes]
        return real(fig, path, **kw)

    monkeypatch.setattr(rp.run._charts, "save_figure", keep)
    write(store, tmp_path)
    assert seen["balance"] == [("money held (each currency)", "week (Europe/Zurich)")]
    assert seen["no_fees"][0] == ("balance (USD)", "")
    assert seen["no_fees"][1] == ("difference (USD)", "as_of (Europe/Zurich)")


def test_tables_show_thousands_separators_and_the_zone_of_their_times(page):
    html = page.index.read_text()
    assert re.search(r"<th[^>]*>as_of \(Europe/Zurich\)</th>", html)
    balance = pd.read_csv(page.path / "tables" / "balance.csv")
    big = balance["total"].abs().max()
    assert big >= 1_000 and f"{big:,.2f}" in html.replace("−", "-")
    # Weekly points start at midnight in Zurich, shown as dates.
    assert re.search(r"<td class=\"s\">2\d{3}-\d\d-\d\d</td>", html)


def test_axis_ticks_carry_thousands_separators():
    assert [chart_parts.thousands(v) for v in (0.0, -0.0, 1500.0, 1_250_000.0, 2500.5, -3000.0)] == [
        "0", "0", "1,500", "1,250,000", "2,500.5", "-3,000"]
    s = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=3, tz="UTC"), "v": [1200.0, 5400.0, 9100.0]})
    ax = charts.trend_lines(s, y="v").axes[0]
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any("," in x for x in labels), labels


# -- item 6: a page that travels alone -------------------------------------------------------------
def test_single_file_embeds_the_charts_and_tables(store, tmp_path):
    report = write(store, tmp_path, single_file=True)
    html = report.index.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    pngs = {base64.b64decode(s.split(",", 1)[1]) for s in srcs}
    assert pngs == {p.read_bytes() for p in (report.path / "charts").glob("*.png")}
    links = [h for h in re.findall(r'href="([^"#][^"]*)"', html)]
    assert links and all(h.startswith("data:text/csv;base64,") for h in links), links[:3]
    csv = base64.b64decode(re.search(r'href="data:text/csv;base64,([^"]+)" download="top.csv"', html).group(1))
    assert csv == (report.path / "tables" / "top.csv").read_bytes()
    assert 'data-panels="chart difference"' in html  # the overlay's difference panel


def test_embed_images_in_the_config_and_the_cli_flag(store, tmp_path):
    from click.testing import CliRunner

    from eventkit.cli import cli

    text = CONFIG.format(store=store, folds=FOLDS).replace("[output]\n", "[output]\nembed_images = true\n")
    (tmp_path / "r.toml").write_text(text)
    html = rp.write_report(tmp_path / "r.toml", out=tmp_path / "a", progress=False).index.read_text()
    assert 'src="charts/' not in html and "data:image/png;base64," in html
    (tmp_path / "r.toml").write_text(CONFIG.format(store=store, folds=FOLDS))
    done = CliRunner().invoke(cli, ["report", str(tmp_path / "r.toml"), "--out", str(tmp_path / "b"),
                                    "--no-progress", "--single-file"])
    assert done.exit_code == 0, done.output
    html = (tmp_path / "b" / "index.html").read_text()
    assert 'src="charts/' not in html and "data:image/png;base64," in html
