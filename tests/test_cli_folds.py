"""`eventkit state` and `eventkit snapshots`: folds defined in a Python module, CSV/Parquet output."""

from __future__ import annotations

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
    """A store and a fold module (with a fresh name, since imports are cached) in the current folder."""
    path = tmp_path / "bank"
    with ek.open_store(path) as store:
        store.append("acct-1", [ek.Event("Opened", {}, occurred_at="2024-01-01T09:00Z"),
                                ek.Event("Deposited", {"amount": 10.0}, occurred_at="2024-01-02T09:00Z"),
                                ek.Event("Deposited", {"amount": 5.0}, occurred_at="2024-01-04T09:00Z")],
                     stream_type="account")
        store.append("acct-2", [ek.Event("Deposited", {"amount": 7.0}, occurred_at="2024-01-03T09:00Z")],
                     stream_type="account")
    module = f"folds_{next(_names)}"
    (tmp_path / f"{module}.py").write_text(FOLDS)
    monkeypatch.chdir(tmp_path)
    return path, module


def test_state_prints_one_row_per_stream(bank):
    path, module = bank
    out = ok("state", path, f"{module}:account").output
    assert "acct-1" in out and "15.0" in out and "acct-2" in out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_state_writes_csv_or_parquet(bank, tmp_path, suffix):
    path, module = bank
    target = tmp_path / "out" / f"state{suffix}"
    assert "wrote 2 rows" in ok("state", path, f"{module}:account", "-o", target).output
    df = pd.read_csv(target) if suffix == ".csv" else pd.read_parquet(target)
    assert df.set_index("stream_id").balance.to_dict() == {"acct-1": 15.0, "acct-2": 7.0}


def test_state_time_travel_and_streams(bank, tmp_path):
    path, module = bank
    target = tmp_path / "s.csv"
    ok("state", path, f"{module}:account", "--as-of", "2024-01-03T00:00Z", "-o", target)
    assert pd.read_csv(target).balance.tolist() == [10.0]
    ok("state", path, f"{module}:account", "--known-at", "3", "-o", target)
    assert pd.read_csv(target).balance.tolist() == [15.0]
    ok("state", path, f"{module}:account", "--stream", "acct-2", "-o", target)
    assert pd.read_csv(target).stream_id.tolist() == ["acct-2"]


def test_state_of_a_python_fold_class(bank, tmp_path):
    path, module = bank
    out = ok("state", path, f"{module}:Balance", "--format", "csv").output
    df = pd.read_csv(__import__("io").StringIO(out))
    assert df.set_index("stream_id").balance.to_dict() == {"acct-1": 15.0, "acct-2": 7.0}


def test_snapshots_daily_to_parquet(bank, tmp_path):
    path, module = bank
    target = tmp_path / "daily.parquet"
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-04",
       "-o", target)
    df = pd.read_parquet(target)
    assert list(df.columns[:2]) == ["as_of", "stream_id"]
    last = df[df["as_of"] == df["as_of"].max()].set_index("stream_id").balance.to_dict()
    assert last == {"acct-1": 10.0, "acct-2": 7.0}        # the 4 Jan deposit is after midnight


def test_snapshots_default_to_the_library_default(bank, tmp_path):
    path, module = bank
    target = tmp_path / "changes.csv"
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-04",
       "-o", target)
    ok("snapshots", path, f"{module}:account", "--every", "1D", "--start", "2024-01-01", "--end", "2024-01-04",
       "--changes", "-o", tmp_path / "log.csv")
    with ek.open_store(path) as store:
        import importlib

        fold = importlib.import_module(module).account
        expected = fold.snapshots(store, every="1D", start="2024-01-01", end="2024-01-04")
        log = fold.changes(store, every="1D", start="2024-01-01", end="2024-01-04")
    assert len(pd.read_csv(target)) == len(expected)
    assert pd.read_csv(tmp_path / "log.csv").columns[0] == "changed_at" and len(pd.read_csv(tmp_path / "log.csv")) == len(log)


def test_snapshots_every_n_positions(bank):
    path, module = bank
    out = ok("snapshots", path, f"{module}:account", "--every", "2", "--format", "csv").output
    assert out.splitlines()[0].startswith("as_of,stream_id")


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
