"""The report layer: a TOML config (:mod:`.config`) run against a store (:mod:`.run`) into CSV tables,
charts and one HTML page (:mod:`.html`).

May use :mod:`eventkit.common`, :mod:`eventkit.store`, :mod:`eventkit.fold`, :mod:`eventkit.analysis` and
:mod:`eventkit.samples` (a config may ask for a sample store). ``eventkit.report`` is a public import path:
``write_report``, ``load_config`` and friends are found here. They load on first use, so that
``import eventkit`` (which needs only :mod:`.config`'s error class) does not import matplotlib.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Report", "ReportConfigError", "load_config", "write_report", "write_table"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from eventkit.report import run

        return getattr(run, name)
    raise AttributeError(f"module 'eventkit.report' has no attribute {name!r}")
