"""The front door: pyproject.toml and environment.yml agree, and CI runs the README's test command."""

from __future__ import annotations

import re
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the project depends on tomli there
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for group, reqs in project["optional-dependencies"].items():
        wanted |= {_name(r) for r in reqs if not r.startswith("eventkit")}
    text = (ROOT / "environment.yml").read_text()
    deps = text.split("dependencies:", 1)[1]
    listed = set()
    for line in deps.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in ("pip", "python", "-e"):
            listed.add(_name(m.group(1)))
    assert wanted == listed


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M)


def _lower_bounds(requirements: list[str]) -> dict[str, str]:
    out = {}
    for r in requirements:
        m = re.match(r"^([A-Za-z0-9_.\-]+)>=([0-9.]+)", r.strip().strip('"'))
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_make_test_oldest_runs_the_lower_bounds_of_pyproject_and_environment_yml():
    """`make test-oldest` installs exactly the oldest versions the project claims to support."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claimed = _lower_bounds(project["dependencies"])
    make = (ROOT / "Makefile").read_text()
    block = make.split("OLDEST_PKG :=", 1)[1].split("\n\n", 1)[0]
    pinned = dict((n.lower(), v) for n, v in re.findall(r'"([A-Za-z0-9_.\-]+)==([0-9.]+)"', block))
    assert pinned, "no OLDEST_PKG pins in the Makefile"
    for name, version in pinned.items():
        assert tuple(map(int, claimed[name].split("."))) == tuple(map(int, version.split(".")))[: len(claimed[name].split("."))], name
    assert {"duckdb", "pandas", "pyarrow"} <= set(pinned)
    env = _lower_bounds([line.strip()[2:] for line in (ROOT / "environment.yml").read_text().splitlines()
                         if line.strip().startswith("- ")])
    for name in ("duckdb", "pandas", "pyarrow", "numpy"):
        assert env[name] == claimed[name], name
