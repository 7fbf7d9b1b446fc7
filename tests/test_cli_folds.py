"""`eventkit state` and `eventkit snapshots`: folds defined in a Python module, CSV/Parquet output."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

_names = itertools.count()

FOLDS = '''
import eventkit as ek

account = ek.Fold("account", stream_type="account", fields={
    "balance": ek.sum("amount", event_types=["Deposited"]),
    "deposits": ek.count(event_types=["Deposited"]),
})

broken = ek.Fold("broken", fields={"x": ek.sum("no_such_field")})

class Balance(ek.PyFold):
    stream_type = "account"
    def initial(self):
        return {"balance": 0.0}
    @ek.on("Deposited")
    def deposited(self, s, e):
        s["balance"] += e.amount

not_a_fold = 42
'''


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: object):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def fails(*args: object) -> str:
    result = run(*args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture
def bank(tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    """A store and a fold module (with a fresh name, since imports are cached) in the current folder.

    Several appends over three accounts, withdrawals the fold ignores, a customer stream of another
    type, and a backdated deposit recorded last (position 9, occurred 2 Jan).
    """
    path = tmp_path / "bank"
    with ek.open_store(path) as store:
        store.append("acct-1", [ek.Event("Opened", {}, occurred_at="2024-01-01T09:00Z"),
                                ek.Event("Deposited", {"amount": 10.0}, occurred_at="2024-01-02T09:00Z"),
                                ek.Event("Deposited", {"amount": 5.0}, occurred_at="2024-01-04T09:00Z")],
                     stream_type="account")
        store.append("acct-2", [ek.Event("Deposited", {"amount": 7.0}, occurred_at="2024-01-03T09:00Z")],
                     stream_type="account")
        store.append("acct-3", [ek.Event("Opened", {}, occurred_at="2024-01-02T00:00Z"),
                                ek.Event("Withdrawn", {"amount": 4.0}, occurred_at="2024-01-03T00:00Z")],
                     stream_type="account")
        store.append("cust-1", [ek.Event("Deposited", {"amount": 100.0}, occurred_at="2024-01-02T09:00Z")],
                     stream_type="customer")
        store.append("acct-2", [ek.Event("Deposited", {"amount": 2.5}, occurred_at="2024-01-04T00:00Z")])
        store.append("acct-1", [ek.Event("Deposited", {"amount": 1.25}, occurred_at="2024-01-02T00:00Z")])
    module = f"folds_{next(_names)}"
    (tmp_path / f"{module}.py").write_text(FOLDS)
    monkeypatch.chdir(tmp_path)
    return path, module


# -- the expected answers, computed with plain pandas over the raw events ----------------------
def raw_events(path: Path) -> pd.DataFrame:
    with ek.open_store(path) as store:
        return store.read_all()


def pandas_state(events: pd.DataFrame, *, as_of=None, known_at=None) -> pd.DataFrame:
    """The ``account`` fold by hand: per account stream, the deposits' sum and count, version, position."""
    e = events[events["stream_type"] == "account"]
    if known_at is not None:
        e = e[e["position"] <= known_at] if isinstance(known_at, int) else e[e["recorded_at"] <= pd.Timestamp(known_at)]
    if as_of is not None:
        e = e[e["occurred_at"] <= pd.Timestamp(as_of)]
    dep = e[e["event_type"] == "Deposited"].groupby("stream_id")["amount"]
    out = pd.DataFrame({"balance": dep.sum(), "deposits": dep.size()}).reindex(sorted(e["stream_id"].unique()))
    out["balance"] = out["balance"].fillna(0.0)  # a sum over no events is 0
    out["deposits"] = out["deposits"].fillna(0).astype(int)
    last = e.sort_values("position").groupby("stream_id").last()
    out["version"], out["position"] = last["version"], last["position"]
    return out.rename_axis("stream_id")


def same_state(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.set_index("stream_id")[["balance", "deposits", "version", "position"]].sort_index()
    pd.testing.assert_frame_equal(got, want[["balance", "deposits", "version", "position"]], check_dtype=False)


def test_state_prints_one_row_per_stream(bank):
    path, module = bank
    out = ok("state", path, f"{module}:account", "--format", "csv").output
    same_state(pd.read_csv(io.StringIO(out)), pandas_state(raw_events(path)))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_state_writes_csv_or_parquet(bank, tmp_path, suffix):
    path, module = bank
    target = tmp_path / "out" / f"state{suffix}"
    assert "wrote 3 rows" in ok("state", path, f"{module}:account", "-o", target).output
    df = pd.read_csv(target) if suffix == ".csv" else pd.read_parquet(target)
    same_state(df, pandas_state(raw_events(path)))


@pytest.mark.parametrize("cut", [
    {"as_of": "2024-01-03T00:00Z"}, {"as_of": "2024-01-03T09:00Z"}, {"as_of": "2024-01-03T08:59:59.999999Z"},
    {"known_at": 3}, {"known_at": 8}, {"as_of": "2024-01-02T12:00Z", "known_at": 8},
])
def test_state_time_travel(bank, tmp_path, cut):
    """--as-of and --known-at (a position) give the pandas answer at the same cuts, bounds inclusive."""
    path, module = bank
    target = tmp_path / "s.csv"
    args = [a for k, v in cut.items() for a in (f"--{k.replace('_', '-')}", v)]
    ok("state", path, f"{module}:account", *args, "-o", target)
    same_state(pd.read_csv(target), pandas_state(raw_events(path), **cut))


def test_state_known_at_a_recorded_time(bank, tmp_path):
    """--known-at an ISO time cuts recorded_at: at the 6th append's own stamp, that append is in."""
    path, module = bank
    events = raw_events(path)
    stamp = events.loc[events["position"] == 8, "recorded_at"].iloc[0]
    target = tmp_path / "s.csv"
    for t in (stamp, stamp - pd.Timedelta("1us")):
        ok("state", path, f"{module}:account", "--known-at", t.isoformat(), "-o", target)
        same_state(pd.read_csv(target), pandas_state(events, known_at=t))


def test_state_streams(bank, tmp_path):
    path, module = bank
    target = tmp_path / "s.csv"
    ok("state", path, f"{module}:account", "--stream", "acct-2", "-o", target)
    same_state(pd.read_csv(target), pandas_state(raw_events(path)).loc[["acct-2"]])


def test_state_of_a_python_fold_class(bank, tmp_path):
    path, module = bank
    out = ok("state", path, f"{module}:Balance", "--format", "csv").output
    df = pd.read_csv(io.StringIO(out)).set_index("stream_id").sort_index()
    want = pandas_state(raw_events(path))
    assert df["balance"].to_dict() == want["balance"].to_dict()


def pandas_dense(events: pd.DataFrame, points: list[pd.Timestamp]) -> pd.DataFrame:
    """State of every stream that exists by each point, for each point (bounds inclusive)."""
    frames = []
    for at in points:
        st = pandas_state(events, as_of=at)
        frames.append(st.reset_index().assign(at=at))
    return pd.concat(frames, ignore_index=True)


def test_snapshots_daily_to_parquet(bank, tmp_path):
    path, module = bank
    target = tmp_path / "daily.parquet"
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-05",
       "-o", target)
    df = pd.read_parquet(target)
    assert list(df.columns[:2]) == ["as_of", "stream_id"]
    points = list(pd.date_range("2024-01-01", "2024-01-05", freq="D", tz="UTC"))
    want = pandas_dense(raw_events(path), points)
    assert sorted(df["as_of"].unique()) == sorted(want["at"].unique())  # no stream exists at 1 Jan 00:00
    for at in points:
        same_state(df[df["as_of"] == at], want[want["at"] == at].set_index("stream_id"))


def test_snapshots_default_to_the_library_default(bank, tmp_path):
    """Without options the CLI writes the library's default series (dense); --changes the change log."""
    path, module = bank
    target = tmp_path / "series.csv"
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-05",
       "-o", target)
    df = pd.read_csv(target)
    df["as_of"] = pd.to_datetime(df["as_of"], utc=True)
    points = list(pd.date_range("2024-01-01", "2024-01-05", freq="D", tz="UTC"))
    events = raw_events(path)
    want = pandas_dense(events, points)               # the default is the dense series
    assert len(df) == len(want)
    for at in points:
        if (want["at"] == at).any():
            same_state(df[df["as_of"] == at], want[want["at"] == at].set_index("stream_id"))
    # --changes: the change log, a row only where the stream had an event in (previous point, point].
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-05",
       "--changes", "-o", tmp_path / "log.csv")
    log = pd.read_csv(tmp_path / "log.csv")
    assert log.columns[0] == "changed_at"
    acct = events[events["stream_type"] == "account"]
    changed = {(at, sid) for i, at in enumerate(points) for sid in acct.loc[
        (acct["occurred_at"] <= at) & ((acct["occurred_at"] > points[i - 1]) if i else True), "stream_id"]}
    got = {(pd.Timestamp(a), s) for a, s in zip(pd.to_datetime(log["changed_at"], utc=True), log["stream_id"])}
    assert got == changed


def test_snapshots_every_n_positions(bank):
    """--every 2: the row at position p is the state over positions <= p."""
    path, module = bank
    out = ok("snapshots", path, f"{module}:account", "--every", "2", "--format", "csv").output
    df = pd.read_csv(io.StringIO(out))
    assert df.columns[0] == "as_of" and df.columns[1] == "stream_id"
    events = raw_events(path)
    assert sorted(df["as_of"].unique()) == [2, 4, 6, 8, 10]  # 9 events: the grid's last point rounds up
    for p in sorted(df["as_of"].unique()):
        same_state(df[df["as_of"] == p], pandas_state(events, known_at=int(p)))


@pytest.mark.parametrize("spec, message", [
    ("nocolon", "is not 'module:attribute'"),
    ("no_such_module_xyz:account", "cannot import 'no_such_module_xyz'"),
    ("{module}:missing", "has no attribute 'missing'"),
    ("{module}:not_a_fold", "is int, not an ek.Fold"),
    ("{module}:broken", "no_such_field"),
])
def test_bad_fold_specs_are_one_line_errors(bank, spec, message):
    path, module = bank
    assert message in fails("state", path, spec.format(module=module))


def test_bad_times_and_outputs_are_one_line_errors(bank, tmp_path):
    path, module = bank
    assert "as_of" in fails("state", path, f"{module}:account", "--as-of", "yesterday-ish")
    assert "every" in fails("snapshots", path, f"{module}:account", "--every", "fortnightly")
    assert "cannot tell the format" in fails("state", path, f"{module}:account", "-o", tmp_path / "x.xlsx")
    assert "no eventkit store" in fails("state", tmp_path / "nope", f"{module}:account")


def test_state_where_sort_limit_for_a_quick_look(bank):
    """--where (SQL over the columns), --sort (-name descending), --limit: the rows pandas would pick."""
    path, module = bank
    out = ok("state", path, f"{module}:account", "--where", "balance > 0", "--sort", "-balance,stream_id",
             "--limit", "1", "--format", "csv").output
    got = pd.read_csv(io.StringIO(out))
    want = pandas_state(raw_events(path))
    want = want[want["balance"] > 0].reset_index().sort_values(["balance", "stream_id"], ascending=[False, True])
    assert got["stream_id"].tolist() == want["stream_id"].head(1).tolist()
    assert got["balance"].tolist() == want["balance"].head(1).tolist()


def test_snapshots_where_and_a_bad_condition(bank):
    path, module = bank
    out = ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-05",
             "--where", "stream_id = 'acct-1'", "--sort", "-as_of", "--format", "csv").output
    got = pd.read_csv(io.StringIO(out))
    assert set(got["stream_id"]) == {"acct-1"} and got["as_of"].is_monotonic_decreasing
    message = fails("state", path, f"{module}:account", "--where", "no_such_column > 1")
    assert message.startswith("Error:") and "no_such_column" in message
