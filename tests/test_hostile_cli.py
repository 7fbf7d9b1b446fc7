"""The proof commands given output paths a hostile or careless user gives: inside the store (its catalog!),
in folders that do not exist. The store stays byte-identical; errors are messages, not tracebacks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli


def _files(path) -> dict:
    return {p: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def setup(tmp_path):
    with ek.open_store(tmp_path / "s") as store:
        store.append("a", [ek.Event("E", {"n": 1})])
    assert CliRunner().invoke(cli, ["keygen", str(tmp_path / "k")]).exit_code == 0
    return tmp_path


@pytest.mark.parametrize("target", ["catalog.sqlite", "new.checkpoint"])
@pytest.mark.parametrize("command", ["prove", "checkpoint"])
def test_an_output_inside_the_store_is_refused(setup, command, target):
    """`eventkit prove s 1 -o s/catalog.sqlite` overwrote the store's catalog: the store was gone."""
    store = setup / "s"
    before = _files(store)
    args = ["prove", str(store), "1"] if command == "prove" else ["checkpoint", str(store), "--key", str(setup / "k")]
    out = CliRunner().invoke(cli, [*args, "-o", str(store / target)])
    assert out.exit_code == 1 and "outside the store" in out.output, out.output
    assert _files(store) == before
    with ek.open_store(store) as again:
        assert again.verify().ok


@pytest.mark.parametrize("command", ["prove", "checkpoint", "keygen"])
def test_an_output_in_a_missing_folder_is_a_message_not_a_traceback(setup, command):
    where = str(setup / "no" / "such" / "file")
    args = {"prove": ["prove", str(setup / "s"), "1", "-o", where],
            "checkpoint": ["checkpoint", str(setup / "s"), "--key", str(setup / "k"), "-o", where],
            "keygen": ["keygen", where]}[command]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 1 and "no" in out.output and "such" in out.output, (out.output, out.exception)
    assert out.exception is None or isinstance(out.exception, SystemExit)


def test_a_signing_key_inside_the_store_is_refused(setup):
    out = CliRunner().invoke(cli, ["keygen", str(setup / "s" / "key")])
    assert out.exit_code == 1 and "outside the store" in out.output
    assert not (setup / "s" / "key").exists()


def test_generate_key_into_a_missing_folder_is_an_eventkit_error(tmp_path):
    from eventkit.store.signed_checkpoints import generate_key

    with pytest.raises(ek.InvalidInput, match="cannot write"):
        generate_key(tmp_path / "no" / "key")


def test_fold_rows_written_inside_the_store_are_refused(setup, tmp_path, monkeypatch):
    """`eventkit state ... -o` wrote wherever it was told, a segment file's name or the catalog's included."""
    (tmp_path / "folds.py").write_text("import eventkit as ek\nf = ek.Fold('default', fields={'n': ek.count()})\n")
    monkeypatch.chdir(tmp_path)
    store = setup / "s"
    before = _files(store)
    out = CliRunner().invoke(cli, ["state", str(store), "folds:f", "-o", str(store / "rows.parquet")])
    assert out.exit_code == 1 and "outside the store" in out.output, out.output
    assert _files(store) == before
    out = CliRunner().invoke(cli, ["state", str(store), "folds:f", "-o", str(tmp_path / "new" / "rows.csv")])
    assert out.exit_code == 0, out.output


def test_a_rejects_file_inside_the_store_is_refused(setup, tmp_path):
    store = setup / "s"
    (tmp_path / "in.csv").write_text("stream_id,event_type,n\na,E,1\na,E,three\n")
    before = _files(store)
    out = CliRunner().invoke(cli, ["import", str(store), str(tmp_path / "in.csv"), "--rejects", str(store / "catalog.sqlite")])
    assert out.exit_code == 1 and "outside the store" in out.output, out.output
    assert _files(store) == before
