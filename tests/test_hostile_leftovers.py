"""Leftovers of the hostile sweep: inverted ranges, ``~`` in report paths, a ``--drop`` typo, a
silent wait on a terminal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import store_fingerprint

import eventkit as ek
from eventkit.cli import cli
from eventkit.whatif import Scenario

UTC = dt.timezone.utc
FOLD = ek.Fold("acct", stream_type="acct", fields={"n": ek.count(), "total": ek.sum("amount")})
FOLDS_PY = 'import eventkit as ek\nacct = ek.Fold("acct", stream_type="acct", fields={"n": ek.count()})\n'


@pytest.fixture
def small_store(tmp_path):
    with ek.open_store(tmp_path / "store") as s:
        s.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=dt.datetime(2025, 1, d, tzinfo=UTC))
                       for d in (1, 2, 3)], stream_type="acct")
    store = ek.open_store(tmp_path / "store")
    yield store
    store.close()


# -- 1. a range whose start is after its end ------------------------------------------------------

@pytest.mark.parametrize("call", ["snapshots", "changes", "aggregate"])
def test_a_grid_starting_after_its_end_is_refused_naming_both(small_store, call):
    """snapshots/changes/aggregate with start after end returned no rows, as if the data were empty."""
    with pytest.raises(ek.InvalidFold, match=r"start=.*2025-01-03.*end=.*2025-01-01|2025-01-03.*2025-01-01"):
        getattr(FOLD, call)(small_store, every="1D", start="2025-01-03", end="2025-01-01")


def test_a_position_grid_starting_after_its_end_is_refused(small_store):
    """The int grid (positions) has the same inverted range."""
    with pytest.raises(ek.InvalidFold, match=r"start=3.*end=1"):
        FOLD.snapshots(small_store, every=1, start=3, end=1)


def test_a_python_fold_grid_starting_after_its_end_is_refused(small_store):
    """PyFold series share the grid: the same refusal."""
    class Count(ek.PyFold):
        initial = {"n": 0}

        @ek.on("Dep")
        def dep(self, state, event):
            return {"n": state["n"] + 1}

    with pytest.raises(ek.InvalidFold, match="2025-01-03"):
        Count().snapshots(small_store, every="1D", start="2025-01-03", end="2025-01-01")


def test_a_grid_of_one_point_is_still_valid(small_store):
    """start == end is one point, not an inverted range."""
    df = FOLD.snapshots(small_store, every="1D", start="2025-01-02", end="2025-01-02")
    assert df["as_of"].nunique() == 1
    assert df["n"].tolist() == [2]


def test_the_cli_refuses_an_inverted_range_with_a_nonzero_exit(small_store, tmp_path, monkeypatch):
    """`eventkit snapshots ... --start 9999-12-31 --end 0001-01-01` printed nothing and exited 0."""
    (tmp_path / "leftover_folds.py").write_text(FOLDS_PY)
    monkeypatch.chdir(tmp_path)
    small_store.close()
    result = CliRunner().invoke(cli, ["snapshots", str(tmp_path / "store"), "leftover_folds:acct", "--every", "1D",
                                      "--start", "9999-12-31", "--end", "0001-01-01"])
    assert result.exit_code != 0
    assert "9999-12-31" in result.output and "0001-01-01" in result.output


def test_a_scenario_window_ending_before_it_starts_is_refused(small_store):
    """drop(between=(later, earlier)) matched nothing, so the scenario silently equalled the baseline."""
    with pytest.raises(ek.InvalidInput, match=r"2025-01-03.*2025-01-01"):
        Scenario(small_store).drop(between=("2025-01-03", "2025-01-01"))


# -- 2. ``~`` in a report configuration -----------------------------------------------------------

def test_a_report_config_reads_its_fold_file_and_paths_under_the_home_folder(tmp_path, monkeypatch):
    """A fold file "~/folds.py:acct", the config file "~/r.toml" and out="~/site" are in the home folder."""
    from eventkit import report as rp

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / "leftover_report_folds.py").write_text(FOLDS_PY)
    with ek.open_store(home / "store") as s:
        s.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=dt.datetime(2025, 1, 1, tzinfo=UTC))],
                 stream_type="acct")
    (home / "r.toml").write_text('[store]\npath = "~/store"\n[output]\ndir = "~/report"\n'
                                 '[folds]\nacct = "~/leftover_report_folds.py:acct"\n'
                                 '[tables.t]\nfold = "acct"\ncolumns = ["stream_id", "n"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = rp.load_config("~/r.toml")
    assert cfg.resolve(cfg.section("store")["path"]) == home / "store"
    rp.write_report(cfg, out="~/site", progress=False)
    assert (home / "site" / "index.html").is_file()
    assert not (elsewhere / "~").exists()


# -- 3. ``import --drop`` naming a column the file does not have ----------------------------------

def _import(store_path: Path, file: Path, *drops: str):
    args = ["import", str(store_path), str(file), "--stream-type", "acct"]
    for d in drops:
        args += ["--drop", d]
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_import_drop_of_a_missing_column_is_refused_naming_it_and_the_columns(small_store, tmp_path, fmt):
    """`--drop noet` (a typo) was silently ignored for JSON; the store must stay untouched."""
    rows = [{"stream_id": "b", "event_type": "Dep", "amount": 2, "note": "x"},
            {"stream_id": "c", "event_type": "Dep", "amount": 3}]
    file = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        file.write_text("stream_id,event_type,amount,note\nb,Dep,2,x\nc,Dep,3,\n")
    elif fmt == "jsonl":
        file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":
        file.write_text(json.dumps(rows))
    else:
        pd.DataFrame(rows).to_parquet(file)
    small_store.close()
    path = tmp_path / "store"
    before = store_fingerprint(path)
    result = _import(path, file, "noet")
    assert result.exit_code != 0
    assert "noet" in result.output and "amount" in result.output, result.output
    assert store_fingerprint(path) == before
    # A key only some JSON objects have is dropped where present: not an error.
    result = _import(path, file, "note")
    assert result.exit_code == 0, result.output
    with ek.open_store(path) as s:
        assert "note" not in s.read_all().columns
        assert s.head == 5


# -- 4. ``append`` reading a terminal -------------------------------------------------------------

def test_append_from_a_terminal_says_it_is_reading_stdin(small_store, tmp_path, monkeypatch):
    """`eventkit append STORE` with no file waited silently on a terminal."""
    import eventkit.cli_appends as appends

    small_store.close()
    monkeypatch.setattr(appends, "_stdin_is_terminal", lambda: True)
    line = '{"stream_id": "b", "event_type": "Dep", "amount": 1}\n'
    result = CliRunner().invoke(cli, ["append", str(tmp_path / "store")], input=line)
    assert result.exit_code == 0, result.output
    assert "standard input" in result.stderr and "Ctrl-D" in result.stderr
    assert result.stderr.count("\n") == 1


def test_append_from_a_pipe_prints_no_hint(small_store, tmp_path, monkeypatch):
    import eventkit.cli_appends as appends

    small_store.close()
    monkeypatch.setattr(appends, "_stdin_is_terminal", lambda: False)
    result = CliRunner().invoke(cli, ["append", str(tmp_path / "store")],
                                input='{"stream_id": "b", "event_type": "Dep", "amount": 1}\n')
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_the_terminal_check_asks_stdin(monkeypatch):
    """The helper the command uses is sys.stdin.isatty() itself."""
    import sys

    import eventkit.cli_appends as appends

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert appends._stdin_is_terminal() is True
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert appends._stdin_is_terminal() is False


# -- 1 (continued): a report series with its range inverted ----------------------------------------

def test_a_report_series_with_start_after_end_is_a_config_error(tmp_path):
    """The config is validated up front: an inverted range names its key before any work."""
    from eventkit import report as rp

    folds = Path(__file__).resolve().parents[1] / "examples" / "bank_folds.py"
    raw = {"store": {"path": "s"}, "folds": {"a": f"{folds}:account"},
           "series": {"daily": {"fold": "a", "every": "1D", "start": dt.date(2025, 3, 1), "end": dt.date(2025, 1, 1)}}}
    with pytest.raises(rp.ReportConfigError, match=r"series\.daily.*2025-03-01.*2025-01-01"):
        rp.load_config(raw, base=tmp_path)
