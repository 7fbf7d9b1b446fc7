"""Hostile analysis inputs on the command line: odd arguments to the fold commands."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli

FOLDS = 'import eventkit as ek\nacct = ek.Fold("acct", stream_type="acct", fields={"n": ek.count()})\n'


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    (tmp_path / "hostile_cli_folds.py").write_text(FOLDS)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "store"
    with ek.open_store(path) as s:
        s.append("a", [ek.Event("Dep", {"amount": 1}, occurred_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))],
                 stream_type="acct")
    return str(path)


@pytest.mark.parametrize("extra", [["state", "--known-at", "²"], ["snapshots", "--every", "²"],
                                   ["snapshots", "--every", "2", "--start", "³"],
                                   ["append", "--expected-version", "²"]])
def test_a_superscript_digit_is_a_one_line_error_not_a_traceback(store_path, extra):
    # '²'.isdigit() is True but int('²') fails: the commands died with a ValueError traceback.
    if extra[0] == "append":
        args = ["append", store_path, *extra[1:]]
    else:
        args = [extra[0], store_path, "hostile_cli_folds:acct", *extra[1:]]
    result = CliRunner().invoke(cli, args, input='{"stream_id": "a", "event_type": "Dep", "amount": 1}\n')
    assert result.exit_code != 0
    assert not result.exception or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "²" in result.output or "³" in result.output


def test_a_position_in_other_decimal_digits_still_reads_as_a_position(store_path):
    result = CliRunner().invoke(cli, ["state", store_path, "hostile_cli_folds:acct", "--known-at", "١",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "a,1," in result.output
