"""Batch trend reports: a TOML file in, a folder with index.html, charts and CSV tables out.

A report configuration names the store, the folds, the snapshot series, the charts, the tables
and optional what-if scenarios. :func:`write_report` validates all of it first (a typo is an
error naming the key and its line, with the closest valid key), then folds, snapshots, charts and
writes::

    <out>/index.html        one self-contained page: headline figures, store summary, a
                            section per chart with its table, scenario comparisons, tables
    <out>/charts/<name>.png|svg
    <out>/tables/<name>.csv

The folder is built next to the target and renamed into place at the end, so a failed run leaves
no half-written report (and an earlier report stays as it was). The run is repeatable: tables are
sorted and floats written with six decimals; charts are drawn from those same rounded tables and
saved byte-for-byte repeatably. Only index.html's "generated" time changes between runs (set
``SOURCE_DATE_EPOCH`` to fix it). With ``[output] embed_images = true`` (``single_file=True``,
``eventkit report --single-file``) index.html carries its charts and CSV tables inside it, so
the page alone can be mailed or attached to a ticket.

A minimal configuration::

    title = "Accounts"
    [store]
    path = "../data/bank"
    [folds]
    account = "bank_folds.py:account"
    [series.balance]
    fold = "account"
    every = "1W"
    by = "currency"
    values = { total_balance = ["balance", "sum"] }
    [charts.balance]
    kind = "trend_lines"
    series = "balance"
    y = "total_balance"
    by = "currency"
    title = "Total balance by currency"

Example:
    >>> report = write_report("examples/bank_report.toml", out="reports/bank")  # doctest: +SKIP
    >>> report.index                                                              # doctest: +SKIP
    PosixPath('reports/bank/index.html')
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from eventkit.analysis import charts as _charts
from eventkit.common.errors import EventKitError
from eventkit.common.progress import progress_bar
from eventkit.report.config import (
    ReportConfig,
    ReportConfigError,
    as_list,
    load_config,
    sort_column,
    time_value,
    values_of,
)
from eventkit.report.frames import event_counts, series_frame, table_frame, tidy
from eventkit.report.headline import headline_figures, headline_specs
from eventkit.report.html import GENERATOR, Section, render
from eventkit.report.scenario import build_scenario, change_notes, ranked_streams, scenario_labels
from eventkit.common.sql import quote_ident
from eventkit.store.event_store import Store, open_store

__all__ = ["Report", "ReportConfigError", "load_config", "write_report", "write_table"]

FLOAT_FORMAT = "%.6f"
#: Rows of a table shown on the page; the whole table is in its CSV, linked beside it.
MAX_TABLE_ROWS = 20


@dataclass
class Report:
    """What :func:`write_report` wrote.

    Attributes:
        path: The report folder.
        charts: Chart files written (PNG and SVG).
        tables: CSV files written.
        seconds: How long the run took.
    """

    path: Path
    charts: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        """The report's index.html."""
        return self.path / "index.html"

    def __str__(self) -> str:
        return (f"report written to {self.index} ({len(self.charts) // 2} charts, "
                f"{len(self.tables)} tables, {self.seconds:.1f} s)")


def write_report(config: str | Path | Mapping[str, Any] | ReportConfig, *, out: str | Path | None = None,
                 progress: bool = True, store: Store | None = None, single_file: bool | None = None) -> Report:
    """Validate a report configuration, then compute and write the report folder.

    Args:
        config: A TOML file, a parsed dict, or a :class:`ReportConfig` from :func:`load_config`.
        out: The report folder; default ``[output] dir`` of the config (relative to the config
            file), else ``report`` next to it. An existing report there is replaced; any other
            non-empty folder is refused.
        progress: Show a progress bar.
        store: Use this open store instead of the one the config names.
        single_file: Embed the charts (PNG) and CSV tables in index.html, so the page travels
            alone; default ``[output] embed_images`` (false). The chart and table files are
            written beside it all the same.

    Returns:
        A :class:`Report` naming the files written.

    Raises:
        ReportConfigError: A mistake in the configuration, found before any work.
        EventKitError: A fold or store error while running; no report folder is left behind.

    Example:
        >>> print(write_report("examples/bank_report.toml"))                    # doctest: +SKIP
        report written to reports/bank/index.html (5 charts, 8 tables, 3.2 s)
    """
    started = time.perf_counter()
    cfg = config if isinstance(config, ReportConfig) else load_config(config)
    output = cfg.section("output")
    target = Path(out).expanduser() if out is not None else cfg.resolve(output.get("dir", "report"))
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        embed = cfg.section("output").get("embed_images", False) if single_file is None else single_file
        report = _Run(cfg, work, progress=progress, embed=embed).run(store)
        os.chmod(work, 0o755)
        _swap_into_place(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.path = target
    report.charts = [target / p.relative_to(work) for p in report.charts]
    report.tables = [target / p.relative_to(work) for p in report.tables]
    report.seconds = time.perf_counter() - started
    return report


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a report table as CSV, repeatably: floats with six decimals, times in ISO 8601
    (``2025-01-06T00:00:00Z`` in UTC, ``2025-01-06T00:00:00+01:00`` in another zone), empty text
    as ``""`` and a missing value as an empty field (see :mod:`eventkit.common.csv_text`)."""
    from eventkit.common.csv_text import csv_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame
    for col in frame.columns:
        dtype = frame[col].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC":
            out = out if out is not frame else frame.copy()
            out[col] = frame[col].map(lambda t: t.isoformat() if pd.notna(t) else "")
    csv_text(out, path, float_format=FLOAT_FORMAT, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%SZ")
    return path


def open_report_store(cfg: ReportConfig, *, progress: bool = True) -> Store:
    """Open the store the config names, building the sample or dataset store when asked."""
    spec = cfg.section("store")
    path = cfg.resolve(spec["path"])
    if spec.get("sample"):
        from eventkit.samples.stores import build_sample_store

        return build_sample_store(path, accounts=spec.get("accounts", 2_000), seed=spec.get("seed", 0),
                                  events_per_account=spec.get("events_per_account", 50.0), progress=progress)
    if spec.get("dataset") == "nycflights13":
        from eventkit.samples.stores import build_flights_store

        return build_flights_store(path, limit=spec.get("limit"), progress=progress)
    if not path.is_dir() and not spec.get("catalog"):
        raise cfg.error(f"no eventkit store at {path} (set sample = true or dataset = ... to build one)",
                        "store.path")
    # An empty folder is not a store to make here; a shared store names its catalog and files.
    store = open_store(path, create=False, catalog=spec.get("catalog"), files=spec.get("files"))
    if not store.head:
        raise cfg.error(f"the store at {path} holds no events", "store.path")
    return store


class _Run:
    """One report run into a working folder."""

    def __init__(self, cfg: ReportConfig, work: Path, *, progress: bool, embed: bool = False) -> None:
        self.cfg, self.work, self.progress, self.embed = cfg, work, progress, embed
        self.report = Report(path=work)
        self.dpi = cfg.section("output").get("dpi", 144)
        self.tz = cfg.raw.get("tz", "UTC")
        self.tables: dict[str, pd.DataFrame] = {}
        self.overlays: dict[str, pd.DataFrame] = {}
        self.sections: list[Section] = []

    def run(self, store: Store | None) -> Report:
        if store is not None:
            return self._run(store)
        with contextlib.closing(open_report_store(self.cfg, progress=self.progress)) as own:
            return self._run(own)

    def _run(self, store: Store) -> Report:
        raw = self.cfg.raw
        steps = (len(raw.get("series", {})) + len(raw.get("scenarios", {})) + len(raw.get("charts", {}))
                 + len(raw.get("tables", {})) + 2)
        with progress_bar(total=steps, desc="report", unit="step", enabled=self.progress) as bar:
            def step(what: str) -> None:
                bar.update(1)
                bar.set_postfix_str(what)

            bar.set_postfix_str("scenarios")
            # Scenarios are views: building them checks their fields against the store's before
            # any fold runs.
            scenarios = {name: build_scenario(store, self.cfg, name, spec)
                         for name, spec in raw.get("scenarios", {}).items()}
            for name, spec in raw.get("series", {}).items():
                step(f"series {name}")
                self.table(name, series_frame(store, self.cfg.folds[spec["fold"]], spec, tz=self.tz))
            scenario_sections = []
            for name, spec in raw.get("scenarios", {}).items():
                step(f"scenario {name}")
                scenario_sections.append(self.scenario(scenarios[name], name, spec))
            for name, spec in raw.get("charts", {}).items():
                step(f"chart {name}")
                self.sections.append(self.chart(store, name, spec))
            self.sections += scenario_sections
            for name, spec in raw.get("tables", {}).items():
                step(f"table {name}")
                frame = self.table(name, self.table_frame(store, name, spec))
                self.sections.append(Section(anchor=f"table-{name}", title=spec.get("title", name),
                                             description=spec.get("description", ""), table=frame,
                                             csv=f"{name}.csv"))
            step("index.html")
            self.page(store)
            bar.update(1)
        return self.report

    def table(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        self.tables[name] = frame
        self.report.tables.append(write_table(frame, self.work / "tables" / f"{name}.csv"))
        return frame

    def chart(self, store: Store, name: str, spec: dict[str, Any]) -> Section:
        kind, title = spec["kind"], spec["title"]
        style = {"title": title, "y_label": spec.get("y_label"), "x_label": spec.get("x_label")}
        if kind == "event_rate":
            events = _events_for_rate(store, self.cfg, name, spec)
            by = spec.get("by", "event_type")
            fig = _charts.event_rate(events, every=spec.get("every", "1D"), by=by,
                                     max_lines=spec.get("max_lines", 8), tz=self.tz,
                                     end=store.info().last_occurred, **style)
            data = event_counts(events, every=spec.get("every", "1D"), by=by, tz=self.tz)
            data, csv = self.table(name, data), name
        elif kind == "overlay":
            data, csv = self.overlays[spec["scenario"]], spec["scenario"]
            if "query" in spec:
                data = _query(data, spec["query"], f"charts.{name}.query", self.cfg)
            fold = self.cfg.folds[self.cfg.section("scenarios")[spec["scenario"]]["fold"]]
            self.one_unit(data, fold, spec["y"], None, f"charts.{name}")
            labels = scenario_labels(data, spec["scenario"])
            base, scen = (data[data["scenario"] == s] for s in labels)
            fig = _charts.overlay(base, scen, y=spec["y"], labels=labels,
                                  unit=spec.get("unit"), tz=self.tz, **style)
        else:
            data, csv = self.tables[spec["series"]], spec["series"]
            if "query" in spec:
                data = _query(data, spec["query"], f"charts.{name}.query", self.cfg)
            series = self.cfg.section("series")[spec["series"]]
            source = values_of(dict(series), series=True).get(spec["y"], (spec["y"], ""))[0]
            self.one_unit(data, self.cfg.folds[series["fold"]], source, spec.get("by"), f"charts.{name}")
            style.update(unit=spec.get("unit"), tz=self.tz)
            if kind == "trend_lines":
                fig = _charts.trend_lines(data, y=spec["y"], by=spec.get("by"),
                                          max_lines=spec.get("max_lines", 12), **style)
            else:
                fig = _charts.stacked_area(data, y=spec["y"], by=spec["by"], **style)
        self.report.charts += _charts.save_figure(fig, self.work / "charts" / name, dpi=self.dpi)
        notes = [f"Rows of {csv} where {spec['query']}."] if "query" in spec else []
        w, h = (int(v * self.dpi) for v in fig.get_size_inches())  # as savefig sizes the PNG
        panels = [ax.get_gid() or "chart" for ax in fig.axes]
        return Section(anchor=f"chart-{name}", title=title, description=spec.get("description", ""),
                       chart=name, table=data, csv=f"{csv}.csv", notes=notes, chart_size=(w, h),
                       panels=panels, table_of=csv if "query" not in spec else None)

    def one_unit(self, data: pd.DataFrame, fold: Any, field: str, by: str | None, key: str,
                 strict: bool = True) -> bool:
        """Whether ``data`` keeps ``field`` in one unit (``[units]``): split ``by`` the unit
        column, or its rows (after ``query``) hold one unit only. With ``strict`` a chart (or
        table, or headline) that would add ``field`` across units is a config error."""
        unit = self.cfg.raw.get("units", {}).get(field)
        if unit is None or unit not in fold.fields or by == unit or unit not in data.columns:
            return True
        seen = sorted(data[unit].dropna().astype(str).unique())
        if len(seen) > 1 and not strict:
            return False
        if len(seen) > 1:
            raise self.cfg.error(
                f"{key} would add {field!r} across {unit} values {', '.join(seen)} ([units] {field} = "
                f"{unit!r}): set by = {unit!r}, or query = \"{unit} == '{seen[0]}'\" for one of them", key)
        return True

    def table_frame(self, store: Store, name: str, spec: dict[str, Any]) -> pd.DataFrame:
        fold = self.cfg.folds[spec["fold"]]
        query = spec.get("query")
        rows = None
        if query is not None:
            def rows(state: pd.DataFrame) -> pd.DataFrame:
                return _query(state, query, f"tables.{name}.query", self.cfg)
        out = table_frame(store, fold, spec, tz=self.tz, rows=rows)
        if "values" not in spec:
            # State rows sorted by an amount: comparing amounts in different units ranks nonsense.
            by = as_list(spec.get("by"))
            sort = [sort_column(k) for k in as_list(spec.get("sort"))]
            for i, col in enumerate(sort):
                unit = self.cfg.raw.get("units", {}).get(col)
                if unit is not None and unit not in sort[:i] and unit not in by:
                    self.one_unit(out if unit in out.columns else fold.state(store)[[unit]], fold, col, None,
                                  f"tables.{name}.sort")
        return out

    def scenario(self, scn: Any, name: str, spec: dict[str, Any]) -> Section:
        fold = self.cfg.folds[spec["fold"]]
        by = as_list(spec.get("by"))
        # Each side's totals per point (and by group), from every stream that exists at the
        # point: fold.aggregate per side, in DuckDB, without the per-stream series.
        overlay = scn.compare_aggregate(fold, every=spec["every"], by=by or None, tz=self.tz,
                                        start=time_value(spec.get("start")), end=time_value(spec.get("end")))
        self.overlays[name] = self.table(name, tidy(overlay, ["as_of", "scenario", *by], tz=self.tz))
        streams = tidy(scn.compare(fold), ["stream_id"], tz=self.tz)
        self.table(f"{name}_streams", streams)
        # Shown: the fields that moved (baseline, scenario, difference), largest moves first.
        shown, notes = ranked_streams(streams, rank_by=spec.get("rank_by"), top=spec.get("top", 20),
                                      cfg=self.cfg, key=f"scenarios.{name}.rank_by")
        return Section(anchor=f"scenario-{name}", title=spec.get("title", f"What if: {name}"),
                       description=spec.get("description", ""), table=shown,
                       csv=f"{name}_streams.csv", notes=notes + change_notes(scn))

    def leaves_out(self, info: Any) -> list[str]:
        """What the report's data leaves out: the config's own statements, then the stream types
        no fold covers (their events appear in event counts, in no series or table)."""
        out = [str(x) for x in self.cfg.raw.get("leaves_out", [])]
        folded = {f.stream_type for f in self.cfg.folds.values()}
        if None not in folded and self.cfg.folds:
            for r in info.stream_types.itertuples():
                if r.stream_type not in folded:
                    out.append(f"No fold covers stream type {r.stream_type!r} ({r.streams:,} streams): the "
                               "series and tables leave its events out.")
        return out

    def page(self, store: Store) -> None:
        info = store.info()
        summary = [
            ("store", str(Path(info.path))),
            ("events", f"{info.events:,} in {info.streams:,} streams"),
            ("stream types", ", ".join(f"{r.stream_type} ({r.streams:,})" for r in info.stream_types.itertuples())),
            ("occurred", f"{_day(info.first_occurred, tz=self.tz)} to {_day(info.last_occurred, tz=self.tz)}"),
            ("last recorded", _day(info.last_recorded, minutes=True, tz=self.tz)),
            ("time zone", f"{self.tz} (days, weeks and months of the series and charts)"),
            ("fields", ", ".join(sorted(info.fields))),
        ]
        headlines = headline_figures(
            self.cfg, headline_specs(self.cfg), tables=self.tables, overlays=self.overlays, tz=self.tz,
            query=lambda frame, q, key: _query(frame, q, key, self.cfg), one_unit=self.one_unit)
        text = render(title=self.cfg.raw.get("title", "eventkit report"),
                      description=self.cfg.raw.get("description", ""), generated_at=_generated_at(),
                      summary=summary, event_types=info.event_types, sections=self.sections,
                      leaves_out=self.leaves_out(info), headlines=headlines,
                      max_rows=self.cfg.section("output").get("max_table_rows", MAX_TABLE_ROWS),
                      embed=self.work if self.embed else None)
        (self.work / "index.html").write_text(text, encoding="utf-8")


# -- helpers ------------------------------------------------------------------------------------
def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise EventKitError(f"the report folder {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        index = target / "index.html"
        if not (index.is_file() and f'content="{GENERATOR}"' in index.read_text(errors="replace")[:2000]):
            raise EventKitError(f"refusing to replace {target}: it is not empty and holds no eventkit "
                                "report; choose another --out folder")


def _swap_into_place(work: Path, target: Path) -> None:
    # Two renames: the old report moves aside and only then is removed, so a crash in between
    # leaves a complete report at either the old or the new name.
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        os.rename(work, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(work, target)


def _events_for_rate(store: Store, cfg: ReportConfig, name: str, spec: dict[str, Any]) -> pd.DataFrame:
    by = spec.get("by", "event_type")
    envelope = ("stream_id", "stream_type", "event_type", "version")
    payload = store.fields
    if by not in envelope and by not in payload:
        import difflib

        valid = [*envelope, *payload]
        close = difflib.get_close_matches(by, valid, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(valid)}"
        raise cfg.error(f"charts.{name}.by = {by!r} is not a column of the events; {hint}", f"charts.{name}.by")
    column = by if by in envelope else f"data.{quote_ident(by)} AS {quote_ident(by)}"
    where, params = [], []
    if "event_types" in spec:
        where.append("event_type IN (SELECT unnest(?::VARCHAR[]))")
        params.append([str(t) for t in spec["event_types"]])
    if "stream_type" in spec:
        where.append("stream_type = ?")
        params.append(spec["stream_type"])
    query = f"SELECT occurred_at, {column} FROM events" + (f" WHERE {' AND '.join(where)}" if where else "")
    events = store.sql(query, params=params or None).df()
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True)
    return events


def _query(frame: pd.DataFrame, query: str, key: str, cfg: ReportConfig) -> pd.DataFrame:
    try:
        return frame.query(query).reset_index(drop=True)
    except Exception as e:  # pandas raises many kinds for a bad expression
        raise cfg.error(f"{key} = {query!r} is not a valid row filter: {type(e).__name__}: {e}", key) from None


def _day(value: Any, *, minutes: bool = False, tz: str = "UTC") -> str:
    if value is None or pd.isna(value):
        return "-"
    t = pd.Timestamp(value)
    t = t.tz_convert(tz) if t.tzinfo else t.tz_localize("UTC").tz_convert(tz)
    return t.strftime(f"%Y-%m-%d %H:%M {tz}" if minutes else "%Y-%m-%d")


def _generated_at() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdecimal()
           else _dt.datetime.now(_dt.timezone.utc))
    return now.strftime("%Y-%m-%d %H:%M UTC")
