"""Odd option values on the command line: each is a one-line usage error naming the option, never a
DuckDB conversion error from inside the query."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


@pytest.mark.parametrize("command", ["state", "snapshots"])
def test_a_limit_beyond_64_bits_is_a_usage_error(tmp_path, monkeypatch, command):
    """--limit 99999999999999999999 said "Conversion Error: Type INT128 ... out of range for ... INT64"."""
    with ek.open_store(tmp_path / "s") as s:
        s.append("a", [ek.Event("E", {"n": 1})])
    (tmp_path / "folds.py").write_text("import eventkit as ek\nf = ek.Fold('default', fields={'n': ek.sum('n')})\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, [command, str(tmp_path / "s"), "folds:f", "--limit", "99999999999999999999"])
    assert out.exit_code == 2 and "--limit" in out.output and "Conversion" not in out.output, out.output
    out = CliRunner().invoke(cli, [command, str(tmp_path / "s"), "folds:f", "--limit", str(2**63 - 1)])
    assert out.exit_code == 0, out.output
