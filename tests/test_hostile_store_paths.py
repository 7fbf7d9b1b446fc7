"""Store paths a careless program passes: an empty string (an unset setting) opened, or made, a store in
whatever folder the process ran in; None was a TypeError. Both are refused, naming what to give."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


@pytest.mark.parametrize("path", ["", None, 5])
def test_an_empty_or_missing_store_path_is_refused(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ek.StoreError, match="store path"):
        ek.open_store(path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["init", ""], ["info", ""], ["read", "", "a"], ["sql", "", "SELECT 1"]])
def test_the_cli_refuses_an_empty_store_path(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, command)
    assert out.exit_code == 1 and "store path" in out.output and "Traceback" not in out.output, out.output
    assert list(tmp_path.iterdir()) == []


def test_the_working_folder_is_still_a_store_path_when_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with ek.open_store(".") as s:
        s.append("a", [ek.Event("E")])
    assert (tmp_path / "catalog.sqlite").is_file()


def test_an_empty_query_is_refused(tmp_path):
    ek.open_store(tmp_path / "s").close()
    out = CliRunner().invoke(cli, ["sql", str(tmp_path / "s"), "  "])
    assert out.exit_code == 1 and "query is empty" in out.output, out.output


def test_a_path_starting_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    """open_store("~/data/bank") made a folder named '~' in the working folder (as pandas, the shell and
    the report's TOML paths read it, ~ is the home folder): a later `rm -rf ~` to tidy it is a disaster."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with ek.open_store("~/data/bank") as s:
        s.append("a", [ek.Event("E")])
        assert s.path == home / "data" / "bank"
    assert (home / "data" / "bank" / "catalog.sqlite").is_file() and list(work.iterdir()) == []
    out = CliRunner().invoke(cli, ["info", "~/data/bank"])
    assert out.exit_code == 0 and "1 in 1 streams" in out.output, out.output
    with ek.open_store("./~") as s:  # a folder really named ~ is still reachable
        assert s.path == work / "~"


@pytest.mark.parametrize("inner", ["segments/inner", "segments/stream_type=default/inner", "inner"])
def test_a_new_store_inside_another_store_is_refused(tmp_path, inner):
    """A store made under another store's segments/ lost its segment files to the outer store's gc (they are
    files the outer catalog does not know): the inner store was damaged ('segment file ... missing')."""
    import pandas as pd

    from conftest import store_fingerprint

    with ek.open_store(tmp_path / "outer", bulk_threshold=2) as outer:
        outer.append_frame(pd.DataFrame({"stream_id": ["a"] * 3, "event_type": "E", "n": [1, 2, 3]}))
    before = store_fingerprint(tmp_path / "outer")
    with pytest.raises(ek.StoreError, match="inside the store at"):
        ek.open_store(tmp_path / "outer" / inner)
    assert store_fingerprint(tmp_path / "outer") == before
    out = CliRunner().invoke(cli, ["init", str(tmp_path / "outer" / inner)])
    assert out.exit_code == 1 and "inside the store" in out.output, out.output
    assert store_fingerprint(tmp_path / "outer") == before
