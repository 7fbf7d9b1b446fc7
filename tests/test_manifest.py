"""Outside tools read exactly the live events (issue 8, item 4): segments/_live.json and gc.

The README's DuckDB recipe is run as written (plain duckdb, no eventkit in the query) after
appends, seals and compactions; a glob of the segment folder would double count after a compaction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd

import eventkit as ek

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_recipe() -> list[str]:
    """The README's DuckDB statements that read a store through segments/_live.json."""
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    recipe = next(b for b in blocks if "_live.json" in b)
    body = "\n".join(line for line in recipe.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def run_recipe() -> list[tuple]:
    con = duckdb.connect()  # plain DuckDB: what a user without eventkit runs
    *setup, query = readme_recipe()
    for statement in setup:
        con.execute(statement)
    return sorted(con.sql(query).fetchall())


def plain_glob_count() -> int:
    return duckdb.sql("SELECT count(*) FROM read_parquet('data/bank/segments/**/*.parquet', "
                      "union_by_name = true, hive_partitioning = false)").fetchall()[0][0]


def test_readme_recipe_reads_exactly_the_live_events(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = ek.open_store("data/bank", bulk_threshold=3, grace_seconds=3600)
    for i in range(4):
        store.append_frame(pd.DataFrame({"stream_id": ["a", "b", "c"], "event_type": "Deposited",
                                         "amount": [i, 10 * i, 100 * i]}), stream_type="account")
    store.append("a", ek.Event("Withdrawn", {"amount": 5}), stream_type="account")
    assert run_recipe() == [("Deposited", 12, 666)]  # the hot-log event is not in any file yet
    manifest = json.loads(Path("data/bank/segments/_live.json").read_text())
    assert manifest["events_in_files"] == 12 and manifest["head_when_written"] == 12
    store.seal()
    assert run_recipe() == [("Deposited", 12, 666), ("Withdrawn", 1, 5)]
    store.compact()
    assert store.info().segments == 1
    assert run_recipe() == [("Deposited", 12, 666), ("Withdrawn", 1, 5)]
    assert plain_glob_count() == 26  # the replaced files are still there for readers: a glob doubles
    assert store.gc() == []  # within the grace period nothing goes
    store.grace_seconds = 0
    removed = store.gc()
    assert len(removed) == 5 and plain_glob_count() == 13
    assert run_recipe() == [("Deposited", 12, 666), ("Withdrawn", 1, 5)]
    assert sorted(json.loads(Path("data/bank/segments/_live.json").read_text())["files"]) == sorted(
        p.relative_to("data/bank").as_posix() for p in Path("data/bank/segments").rglob("*.parquet"))


def test_cleanup_never_removes_a_file_the_manifest_lists(tmp_path):
    """A manifest that could not be rewritten still points at a consistent older set of files."""
    store = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=3600)
    for i in range(3):
        store.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": "E", "n": [i]}))
    stale = (store.path / "segments" / "_live.json").read_text()
    store.compact()
    (store.path / "segments" / "_live.json").write_text(stale)  # as if the rewrite had failed
    store.grace_seconds = 0
    with store._catalog.write() as conn:
        from eventkit.store.segment_files import remove_orphans

        remove_orphans(store._catalog, conn, store.files, grace_seconds=0)
    for rel in json.loads(stale)["files"]:
        assert (store.path / rel).exists()
    store.gc()
    assert len(list(store.path.rglob("*.parquet"))) == 1


def test_cli_gc(tmp_path):
    from click.testing import CliRunner

    from eventkit.cli import cli

    store = ek.open_store(tmp_path / "s", bulk_threshold=1, grace_seconds=0)
    for i in range(3):
        store.append_frame(pd.DataFrame({"stream_id": ["a"], "event_type": "E", "n": [i]}))
    store.grace_seconds = 3600
    store.compact()
    store.grace_seconds = 0
    store.close()
    result = CliRunner().invoke(cli, ["gc", str(tmp_path / "s")])
    assert result.exit_code == 0 and "removed 3 files" in result.output
    result = CliRunner().invoke(cli, ["gc", str(tmp_path / "s")])
    assert result.exit_code == 0 and "nothing to remove" in result.output
