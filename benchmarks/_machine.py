"""The machine and software a benchmark ran on, for the header of BENCHMARKS.md (shared by both scripts)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
from importlib.metadata import version
from pathlib import Path


def machine() -> dict:
    import duckdb
    import numpy
    import pandas
    import pyarrow

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gb = None
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_gb = round(int(line.split()[1]) / 2**20, 1)
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "memory_gb": mem_gb, "memory": f"{mem_gb} GiB" if mem_gb else "unknown",
        "cpu": cpu, "os": platform.platform(), "python": platform.python_version(),
        "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__, "pandas": pandas.__version__,
        "numpy": numpy.__version__, "eventsourcing": version("eventsourcing"), "sqlite": sqlite3.sqlite_version,
        "load": os.getloadavg()[0],
    }
