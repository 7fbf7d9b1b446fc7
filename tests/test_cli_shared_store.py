"""The command line on a shared store (issue 12): ``--catalog`` / ``--files`` or their environment variables.

Every command opens its store through one helper (eventkit/cli_stores.py), so a store whose catalog
is in PostgreSQL and whose segments are in a bucket is used from the shell exactly like a folder.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import eventkit as ek
from eventkit.cli import cli
from eventkit.cli_stores import redact

from conftest import S3_CREDENTIALS, new_bucket


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str, s3_endpoint: str, monkeypatch) -> dict[str, str]:
    """A new schema and bucket; boto3 finds the endpoint and credentials in the environment."""
    pytest.importorskip("boto3")
    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key.upper() if key != "region_name" else "AWS_DEFAULT_REGION", value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return {"catalog": f"{postgres_url}?schema=cli_{uuid.uuid4().hex[:12]}",
            "files": f"s3://{new_bucket(s3_endpoint)}/bank"}


def _events(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"stream_id": f"acct-{i % 5}", "event_type": "Deposited",
                                        "data": {"amount": i + 0.25}}) + "\n" for i in range(n)))
    return path


def test_every_command_reaches_a_shared_store_from_two_hosts(tmp_path: Path, shared: dict[str, str]) -> None:
    """init and bulk import on host A; info, sql, read, state, verify on host B (its own folder)."""
    runner = CliRunner()
    where = ["--catalog", shared["catalog"], "--files", shared["files"]]
    host_a, host_b = str(tmp_path / "host-a"), str(tmp_path / "host-b")
    assert runner.invoke(cli, [*where, "init", host_a]).exit_code == 0
    imported = runner.invoke(cli, [*where, "import", host_a, str(_events(tmp_path / "e.jsonl", 500))])
    assert imported.exit_code == 0, imported.output

    sql = runner.invoke(cli, [*where, "sql", host_b, "SELECT count(*) AS n, sum(data.amount) AS total FROM events",
                              "--format", "json"])
    assert sql.exit_code == 0, sql.output
    assert json.loads(sql.output) == [{"n": 500, "total": sum(i + 0.25 for i in range(500))}]
    info = runner.invoke(cli, [*where, "info", host_b])
    assert info.exit_code == 0 and "500" in info.output
    read = runner.invoke(cli, [*where, "read", host_b, "acct-3", "--format", "json"])
    assert read.exit_code == 0 and len(json.loads(read.output)) == 100
    assert runner.invoke(cli, [*where, "verify", host_b]).exit_code == 0

    # Sealed on host A, the events are a segment in the bucket; host B reads it from there.
    assert runner.invoke(cli, [*where, "seal", host_a]).exit_code == 0
    import boto3

    bucket, prefix = shared["files"][len("s3://"):].split("/", 1)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(k.startswith(f"{prefix}/segments/") and k.endswith(".parquet") for k in keys), keys
    again = runner.invoke(cli, [*where, "sql", host_b, "SELECT count(*) AS n FROM events", "--format", "csv"])
    assert again.exit_code == 0 and again.output.splitlines() == ["n", "500"], again.output
    assert not [p for p in Path(host_a).rglob("*.parquet") if "object-cache" not in p.parts]


def test_the_environment_variables_stand_for_the_options(tmp_path: Path, shared: dict[str, str], monkeypatch) -> None:
    runner = CliRunner()
    with ek.open_store(tmp_path / "a", **shared) as store:
        store.append_frame(pd.DataFrame({"stream_id": ["s1", "s2"], "event_type": "E", "n": [1, 2]}))
    monkeypatch.setenv("EVENTKIT_CATALOG", shared["catalog"])
    monkeypatch.setenv("EVENTKIT_FILES", shared["files"])
    out = runner.invoke(cli, ["sql", str(tmp_path / "b"), "SELECT sum(data.n) AS n FROM events", "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == ["n", "3"]


def test_a_catalog_without_a_store_is_an_error_that_names_it_without_its_password(
        tmp_path: Path, postgres_url: str) -> None:
    """A typo in the schema must not make a new empty store (only init creates), and the message
    names the catalog it asked, with the password hidden."""
    runner = CliRunner()
    empty = f"{postgres_url}?schema=nothing_{uuid.uuid4().hex[:8]}"
    out = runner.invoke(cli, ["--catalog", empty, "info", str(tmp_path / "x")])
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "no eventkit store" in out.output and "--catalog URL init" in out.output
    assert redact("postgresql://ek:s3cret@db:5432/x") == "postgresql://ek:***@db:5432/x"
    assert redact("postgresql://db/x") == "postgresql://db/x"
    assert not (tmp_path / "x").exists()


def test_a_bad_catalog_url_is_one_line(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--catalog", "mysql://db/x", "info", str(tmp_path)])
    assert out.exit_code != 0 and "Traceback" not in out.output and "postgresql://" in out.output


def test_a_report_config_names_a_shared_store(tmp_path: Path, shared: dict[str, str]) -> None:
    """``[store] catalog`` / ``files`` in the report config, and --catalog / --files for the command."""
    with ek.open_store(tmp_path / "a", **shared) as store:
        store.append_frame(pd.DataFrame({"stream_id": [f"s{i % 3}" for i in range(30)], "event_type": "Deposited",
                                         "occurred_at": pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC"),
                                         "amount": [float(i) for i in range(30)]}))
    body = ('title = "shared"\n[folds]\nbal = "balance"\n'
            '[series.daily]\nfold = "bal"\nevery = "1W"\nvalues = { balance = ["balance", "sum"] }\n'
            '[charts.total]\nkind = "trend_lines"\ntitle = "Total"\nseries = "daily"\ny = "balance"\n')
    fold = 'import eventkit as ek\nbalance = ek.Fold("balance", fields={"balance": ek.sum("amount")})\n'
    (tmp_path / "folds.py").write_text(fold)
    config = tmp_path / "r.toml"
    config.write_text(body.replace('bal = "balance"', 'bal = "folds.py:balance"')
                      + f'[store]\npath = "b"\ncatalog = "{shared["catalog"]}"\nfiles = "{shared["files"]}"\n')
    result = CliRunner().invoke(cli, ["report", str(config), "--out", str(tmp_path / "rep"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "index.html").is_file()

    plain = tmp_path / "plain.toml"
    plain.write_text(body.replace('bal = "balance"', 'bal = "folds.py:balance"') + '[store]\npath = "c"\n')
    result = CliRunner().invoke(cli, ["--catalog", shared["catalog"], "--files", shared["files"], "report",
                                      str(plain), "--out", str(tmp_path / "rep2"), "--no-progress"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("files", ["s3://", "gs://bucket/x", "/a/local/path"])
def test_a_bad_files_location_leaves_no_store_behind(tmp_path: Path, files: str) -> None:
    """init with a files location eventkit cannot use is refused before the catalog is made: the
    folder stays as it was (before, a catalog.sqlite was left, and the next command found a store)."""
    out = CliRunner().invoke(cli, ["--files", files, "init", str(tmp_path / "a")])
    assert out.exit_code != 0 and "s3://bucket/prefix" in out.output and "Traceback" not in out.output
    assert not (tmp_path / "a").exists()
    with pytest.raises(ek.StoreError, match="s3://bucket/prefix"):
        ek.open_store(tmp_path / "b", files=files)
    assert not (tmp_path / "b").exists()
