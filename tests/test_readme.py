"""The README's Python blocks run as written, in order, twice in a row in the same folder.

A block that is not meant to run on its own says so with an HTML comment on the line before it:
``<!-- not run: why -->``. Regression: the quick start wrote into the demo store (so the next
report stretched to today, a second run raised WrongExpectedVersion) and used a ``df`` it never made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
