"""The report layer: a TOML config (:mod:`.config`) run against a store (:mod:`.run`) into CSV tables,
charts and one HTML page (:mod:`.html`).

May use :mod:`eventkit.common`, :mod:`eventkit.store`, :mod:`eventkit.fold` and :mod:`eventkit.analysis`.
``eventkit.report`` is a public import path: ``write_report``, ``load_config`` and friends live here.
"""
from __future__ import annotations

from eventkit.report.run import Report, ReportConfigError, load_config, write_report, write_table

__all__ = ["Report", "ReportConfigError", "load_config", "write_report", "write_table"]
