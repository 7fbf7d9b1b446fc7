"""Reading and validating a report's TOML configuration, before any work is done.

Every key is checked against a schema; a typo or an unknown key is an error that names the key
path and its line in the file and suggests the closest valid key. References between sections
(a chart's ``series``, a series' ``fold``, ...) are checked too, and folds are imported, so a run
that starts does not stop half way for a mistake in the file.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eventkit.common.errors import EventKitError, InvalidFold
from eventkit.fold.loading import load_fold
from eventkit.report.keys import as_list, line_of, sort_column, table_files, time_value, values_of

__all__ = ["ReportConfig", "ReportConfigError", "as_list", "line_of", "load_config", "sort_column",
           "table_files", "time_value", "values_of"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

CHART_KINDS = ("trend_lines", "stacked_area", "overlay", "event_rate")
DATASETS = ("nycflights13",)
AGG_FUNCTIONS = ("sum", "count", "min", "max", "mean", "avg", "median", "count_distinct", "any_value")
#: The aggregates whose result is in the unit of their input (so inputs must share one unit).
UNIT_FUNCTIONS = ("sum", "min", "max", "mean", "avg", "median")
_TIME = (str, _dt.date, _dt.datetime)
_KNOWN = (int, str, _dt.date, _dt.datetime)


class ReportConfigError(EventKitError, ValueError):
    """A report configuration that cannot run: says which key, on which line, and what to do.

    Attributes:
        key: The dotted key path (``"charts.balance.titel"``), when there is one.
        line: Its 1-based line in the file, when found.
        file: The configuration file, when read from one.
    """

    def __init__(self, message: str, *, key: str | None = None, line: int | None = None,
                 file: str | Path | None = None) -> None:
        self.key, self.line, self.file = key, line, (str(file) if file else None)
        where = ", ".join(p for p in (self.file, f"line {line}" if line else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


# -- the schema ---------------------------------------------------------------------------------
# A spec is a dict of key -> type (or tuple of types) or nested spec; "*" matches any user-chosen
# name. Keys listed in _REQUIRED[section] must be present.
_VALUES = {"*": list}
_SCENARIO_EDITS = ("drop", "change", "shift", "add")
SCHEMA: dict[str, Any] = {
    "title": str,
    "description": str,
    "tz": str,
    "units": {"*": str},
    "leaves_out": list,
    "store": {"path": str, "sample": bool, "dataset": str, "accounts": int,
              "events_per_account": (int, float), "seed": int, "limit": int,
              "catalog": str, "files": str},
    "output": {"dir": str, "max_table_rows": int, "dpi": int, "embed_images": bool},
    "headlines": {"*": {"label": str, "series": str, "scenario": str, "y": str, "query": str,
                        "unit": str}},
    "folds": {"*": str},
    "series": {"*": {"fold": str, "every": str, "start": _TIME, "end": _TIME, "as_of": _TIME,
                     "known_at": _KNOWN, "by": (str, list), "values": _VALUES,
                     "compute": {"*": str}, "description": str}},
    "charts": {"*": {"kind": str, "series": str, "scenario": str, "y": str, "by": str,
                     "title": str, "unit": str, "y_label": str, "x_label": str, "every": str,
                     "event_types": list,
                     "stream_type": str, "max_lines": int, "query": str, "description": str}},
    "tables": {"*": {"fold": str, "as_of": _TIME, "known_at": _KNOWN, "by": (str, list),
                     "values": _VALUES, "compute": {"*": str}, "columns": list, "sort": (str, list),
                     "descending": bool, "limit": int, "query": str, "title": str, "description": str}},
    "scenarios": {"*": {"fold": str, "every": str, "start": _TIME, "end": _TIME, "by": (str, list),
                        "title": str, "description": str, "drop": (dict, list), "change": (dict, list),
                        "shift": (dict, list), "add": str, "top": int, "rank_by": str}},
}
# Counts: the least value each may take.
_AT_LEAST = {"max_table_rows": 0, "limit": 0, "top": 0, "max_lines": 1, "dpi": 1, "accounts": 0,
             "events_per_account": 0}
_REQUIRED = {"store": ("path",), "series": ("fold", "every"), "charts": ("kind", "title"),
             "tables": ("fold",), "scenarios": ("fold", "every")}


@dataclass
class ReportConfig:
    """A validated report configuration (the parsed TOML plus what it refers to).

    Attributes:
        raw: The TOML as a dict.
        base: The folder relative paths are resolved against (the config file's folder).
        folds: Fold name -> the imported :class:`~eventkit.Fold`.
        file: The file it was read from, if any.
    """

    raw: dict[str, Any]
    base: Path
    folds: dict[str, Any] = field(default_factory=dict)
    file: Path | None = None
    text: str = ""

    def section(self, name: str) -> dict[str, Any]:
        return self.raw.get(name, {})

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base / p

    def error(self, message: str, key: str) -> ReportConfigError:
        """An error about ``key`` that points at its line in the file."""
        return ReportConfigError(message, key=key, line=line_of(self.text, key), file=self.file)


def load_config(source: str | Path | Mapping[str, Any], *, base: str | Path | None = None) -> ReportConfig:
    """Read and fully validate a report configuration.

    Args:
        source: A TOML file path, or an already-parsed dict.
        base: Folder for relative paths; default the file's folder (or the working directory).

    Returns:
        The validated :class:`ReportConfig`.

    Raises:
        ReportConfigError: Bad TOML, an unknown key (with a suggestion), a wrong type, a dangling
            reference, or a fold that cannot be imported.
    """
    text, file = "", None
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        file = Path(source).expanduser()  # "~/reports/bank.toml", as open_store reads "~/data/bank"
        if not file.is_file():
            raise ReportConfigError(f"no report configuration at {file}")
        text = file.read_text(encoding="utf-8")
        if tomllib is None:  # pragma: no cover
            raise ReportConfigError("reading TOML on Python 3.10 needs the tomli package: pip install tomli")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ReportConfigError(f"not valid TOML: {e}", file=file) from None
    cfg = ReportConfig(raw=raw, base=Path(base).expanduser() if base else (file.parent if file else Path.cwd()),
                       file=file, text=text)
    _Checker(text, file).check(cfg)
    return cfg


class _Checker:
    def __init__(self, text: str, file: Path | None) -> None:
        self.text, self.file = text, file

    def fail(self, message: str, key: str) -> None:
        raise ReportConfigError(message, key=key, line=line_of(self.text, key), file=self.file)

    def check(self, cfg: ReportConfig) -> None:
        self.walk(cfg.raw, SCHEMA, "")
        raw = cfg.raw
        for section, keys in _REQUIRED.items():
            items = {section: raw[section]} if section == "store" and section in raw else raw.get(section, {})
            if section == "store" and "store" not in raw:
                self.fail("the configuration needs a [store] table with a path", "store")
            for name, spec in items.items():
                where = section if section == "store" else f"{section}.{name}"
                for key in keys:
                    if key not in spec:
                        self.fail(f"{where} needs {key!r}", where)
        store = raw["store"]
        if "dataset" in store and store["dataset"] not in DATASETS:
            self.choice(store["dataset"], DATASETS, "store.dataset")
        if store.get("sample") and "dataset" in store:
            self.fail("store: give either sample = true or dataset = ..., not both", "store.dataset")
        for key in ("catalog", "files"):
            if key in store and (store.get("sample") or "dataset" in store):
                self.fail(f"store.{key}: a sample or dataset store is built in its folder; "
                          f"{key} is for opening a shared store", f"store.{key}")
        cfg.folds = {name: self.import_fold(spec, f"folds.{name}", cfg.base)
                     for name, spec in raw.get("folds", {}).items()}
        self.check_tz(raw)
        self.check_units(raw, cfg)
        for i, item in enumerate(raw.get("leaves_out", [])):
            if not isinstance(item, str):
                self.fail(f"leaves_out must be a list of sentences, not {_kind(item)} ({item!r})", "leaves_out")
        outputs: dict[str, list[str]] = {}
        for name, s in raw.get("series", {}).items():
            outputs[name] = self.check_aggregate(s, cfg, f"series.{name}", series=True)
        for name, t in raw.get("tables", {}).items():
            self.check_aggregate(t, cfg, f"tables.{name}", series=False)
        for name, s in raw.get("scenarios", {}).items():
            self.check_scenario(s, cfg, f"scenarios.{name}")
        for name, c in raw.get("charts", {}).items():
            self.check_chart(c, cfg, outputs, f"charts.{name}")
        for name, h in raw.get("headlines", {}).items():
            self.check_headline(h, cfg, outputs, f"headlines.{name}")
        self.check_names(raw)

    # -- structure --------------------------------------------------------------------------
    def walk(self, value: Any, spec: Any, path: str) -> None:
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                self.fail(f"{path} must be a table ([{path}] or {{ ... }}), not {_kind(value)}", path)
            for key, item in value.items():
                sub = f"{path}.{key}" if path else key
                if key in spec:
                    self.walk(item, spec[key], sub)
                elif "*" in spec:
                    self.walk(item, spec["*"], sub)
                else:
                    self.unknown(key, list(spec), sub)
        elif not isinstance(value, spec) or (isinstance(value, bool) and bool not in _tuple(spec)):
            names = " or ".join(_type_name(t) for t in _tuple(spec))
            self.fail(f"{path} must be {names}, not {_kind(value)} ({value!r})", path)
        elif (path.rpartition(".")[2] in _AT_LEAST and isinstance(value, (int, float)) and not isinstance(value, bool)
              and value < _AT_LEAST[path.rpartition(".")[2]]):
            # A negative limit would silently drop rows from the end (pandas head(-1)).
            self.fail(f"{path} must be {_AT_LEAST[path.rpartition('.')[2]]} or more, not {value!r}", path)

    def unknown(self, key: str, valid: list[str], path: str) -> None:
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(valid))}"
        self.fail(f"unknown key {path!r}{hint}", path)

    def choice(self, value: str, valid: tuple[str, ...] | list[str], path: str, what: str = "") -> None:
        if value not in valid:
            close = difflib.get_close_matches(str(value), list(valid), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(valid)}"
            self.fail(f"{path} = {value!r} is not {what or 'valid'}; {hint}", path)

    def check_names(self, raw: dict[str, Any]) -> None:
        # Names become file names in the report (tables/<name>.csv); keep them portable, distinct.
        files: dict[str, str] = {}
        for section in ("series", "tables", "scenarios", "charts"):
            for name, spec in raw.get(section, {}).items():
                path = f"{section}.{name}"
                if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
                    self.fail(f"{path}: names may use letters, digits and _ . - only", path)
                stems = table_files(section, name, spec)
                for stem in stems:
                    if stem in files:
                        self.fail(f"{path} would write tables/{stem}.csv, as {files[stem]} does; "
                                  "rename one of them", path)
                    files[stem] = path

    # -- time zone and units ----------------------------------------------------------------
    def check_tz(self, raw: dict[str, Any]) -> None:
        if "tz" in raw:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(raw["tz"])
            except (ZoneInfoNotFoundError, ValueError):
                self.fail(f"tz = {raw['tz']!r} is not a time zone: give an IANA name such as 'UTC', "
                          "'Europe/Zurich' or 'America/New_York'", "tz")

    def check_units(self, raw: dict[str, Any], cfg: ReportConfig) -> None:
        """``[units] field = "column"``: the field's unit is the stream's value of ``column``."""
        for f, col in raw.get("units", {}).items():
            if not any(f in fold.fields and col in fold.fields for fold in cfg.folds.values()):
                self.fail(f"units.{f} = {col!r}: no fold has both a field {f!r} and a field {col!r} "
                          "(the field holding each stream's unit, e.g. its currency)", f"units.{f}")

    def check_same_unit(self, cfg: ReportConfig, fold: Any, field: str, by: list[str], key: str,
                        what: str) -> None:
        """A sum, mean, min or max of a field measured in per-stream units must keep units apart."""
        unit = cfg.raw.get("units", {}).get(field)
        if unit is not None and unit in fold.fields and unit not in by:
            self.fail(f"{key} {what} {field!r} across {unit} values ([units] {field} = {unit!r}): "
                      f"adding amounts in different units gives a meaningless number; add {unit!r} "
                      "to by (one row per unit)", key)

    # -- references -------------------------------------------------------------------------
    def fold_of(self, spec: dict, cfg: ReportConfig, path: str) -> Any:
        name = spec["fold"]
        if name not in cfg.folds:
            self.choice(name, list(cfg.folds) or ["(no [folds] defined)"], f"{path}.fold", "a fold in [folds]")
        return cfg.folds[name]

    def check_every(self, every: str, path: str) -> None:
        from eventkit.fold.series import parse_every

        try:
            parse_every(every)
        except EventKitError as e:
            self.fail(str(e), path)

    def check_time(self, spec: dict, path: str) -> None:
        from eventkit.common.timeparse import parse_known_at, to_utc

        at: dict[str, Any] = {}
        for key in ("start", "end", "as_of", "known_at"):
            if key in spec:
                try:
                    at[key] = (parse_known_at if key == "known_at" else to_utc)(time_value(spec[key]))
                except EventKitError as e:
                    self.fail(f"{path}.{key}: {e}", f"{path}.{key}")
        if "start" in at and "end" in at and at["start"] > at["end"]:  # no points: say so before any work
            self.fail(f"{path}.start = {time_value(spec['start'])} is after {path}.end = "
                      f"{time_value(spec['end'])}: the series would have no points", f"{path}.start")

    def check_aggregate(self, spec: dict, cfg: ReportConfig, path: str, *, series: bool) -> list[str]:
        fold = self.fold_of(spec, cfg, path)
        if series:
            self.check_every(spec["every"], f"{path}.every")
        self.check_time(spec, path)
        columns = ["stream_id", *fold.fields, "version", "position"]
        by = as_list(spec.get("by"))
        for col in by:
            if col not in columns:
                self.choice(col, columns, f"{path}.by", f"a field of fold {fold.name!r}")
        out = list(by)
        if not series and "values" not in spec:
            out = columns  # a table without values is the fold's state itself
        for name, pair in values_of(spec, series=series).items():
            key = f"{path}.values.{name}"
            if not (len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                self.fail(f"{key} must be [column, function], e.g. [\"balance\", \"sum\"]", key)
            if pair[0] not in columns:
                self.choice(pair[0], columns, key, f"a field of fold {fold.name!r}")
            self.choice(pair[1], AGG_FUNCTIONS, key, "an aggregate function")
            if pair[1] in UNIT_FUNCTIONS:
                self.check_same_unit(cfg, fold, pair[0], by, key, f"takes the {pair[1]} of")
            out.append(name)
        for name in spec.get("compute", {}):
            out.append(name)
        for col in as_list(spec.get("columns")):
            if col not in out:
                self.choice(col, out, f"{path}.columns", "a column of the table")
        shown = as_list(spec.get("columns")) or out
        for key in as_list(spec.get("sort")):
            col = sort_column(key)
            if not isinstance(key, str) or col not in shown:
                self.choice(col, shown, f"{path}.sort",
                            "a column of the table (a leading - sorts it largest first)")
        return (["as_of"] if series else []) + out + (["complete"] if series else [])

    def check_scenario(self, spec: dict, cfg: ReportConfig, path: str) -> None:
        fold = self.fold_of(spec, cfg, path)
        self.check_every(spec["every"], f"{path}.every")
        by = as_list(spec.get("by"))
        for col in by:
            if col not in fold.fields:
                self.choice(col, list(fold.fields), f"{path}.by", f"a field of fold {fold.name!r}")
        # The scenario's table totals every field of the fold per point (and by group).
        for f in fold.fields:
            self.check_same_unit(cfg, fold, f, by, f"{path}.by" if by else path, "totals")
        self.check_time(spec, path)
        if "rank_by" in spec and spec["rank_by"] not in fold.fields:
            self.choice(spec["rank_by"], list(fold.fields), f"{path}.rank_by", f"a field of fold {fold.name!r}")
        if not any(k in spec for k in _SCENARIO_EDITS):
            self.fail(f"{path} edits nothing: give drop, change, shift or add", path)
        whatif = _whatif()
        if whatif is None:
            self.fail(f"{path}: scenarios need eventkit.whatif, which this installation lacks", path)
        import inspect

        for edit in ("drop", "change", "shift"):
            for i, item in enumerate(as_list(spec.get(edit))):
                key = f"{path}.{edit}"
                if not isinstance(item, dict):
                    self.fail(f"{key} must be a table like {{ event_types = [...] }} or a list of them", key)
                params = inspect.signature(getattr(whatif.Scenario, edit)).parameters
                valid = [p for p, v in params.items() if p != "self" and v.kind != v.VAR_KEYWORD]
                for arg in item:
                    if arg not in valid:
                        self.unknown(arg, valid, f"{key}.{arg}")

    def check_chart(self, spec: dict, cfg: ReportConfig, outputs: dict[str, list[str]], path: str) -> None:
        kind = spec["kind"]
        self.choice(kind, CHART_KINDS, f"{path}.kind", "a chart kind")
        if kind == "event_rate":
            self.check_every(spec.get("every", "1D"), f"{path}.every")
            for key in ("series", "scenario", "y"):
                if key in spec:
                    self.fail(f"{path}.{key}: an event_rate chart counts the store's events; "
                              f"it takes every, by, event_types, stream_type", f"{path}.{key}")
            return
        if "y" not in spec:
            self.fail(f"{path} needs 'y' (the column to plot)", path)
        if kind == "overlay":
            name = spec.get("scenario")
            if name is None:
                self.fail(f"{path} (overlay) needs 'scenario', a name from [scenarios]", path)
            scenarios = cfg.section("scenarios")
            if name not in scenarios:
                self.choice(name, list(scenarios) or ["(no [scenarios])"], f"{path}.scenario", "a scenario")
            fold = cfg.folds[scenarios[name]["fold"]]
            if spec["y"] not in fold.fields:
                self.choice(spec["y"], list(fold.fields), f"{path}.y", f"a field of fold {fold.name!r}")
            return
        name = spec.get("series")
        if name is None:
            self.fail(f"{path} ({kind}) needs 'series', a name from [series]", path)
        if name not in outputs:
            self.choice(name, list(outputs) or ["(no [series])"], f"{path}.series", "a series")
        for key in ("y", "by"):
            if key in spec and spec[key] not in outputs[name]:
                self.choice(spec[key], outputs[name], f"{path}.{key}", f"a column of series {name!r}")
        if kind == "stacked_area" and "by" not in spec:
            self.fail(f"{path} (stacked_area) needs 'by', the category column", path)

    def check_headline(self, spec: dict, cfg: ReportConfig, outputs: dict[str, list[str]], path: str) -> None:
        """A headline figure: the latest value of a series' ``y`` or a scenario's effect on ``y``."""
        sources = [k for k in ("series", "scenario") if k in spec]
        if len(sources) != 1:
            self.fail(f"{path} needs one of 'series' (its latest value) or 'scenario' (its effect)", path)
        if "y" not in spec:
            self.fail(f"{path} needs 'y' (the column whose value it shows)", path)
        if "series" in spec:
            name = spec["series"]
            if name not in outputs:
                self.choice(name, list(outputs) or ["(no [series])"], f"{path}.series", "a series")
            if spec["y"] not in outputs[name]:
                self.choice(spec["y"], outputs[name], f"{path}.y", f"a column of series {name!r}")
            return
        scenarios = cfg.section("scenarios")
        name = spec["scenario"]
        if name not in scenarios:
            self.choice(name, list(scenarios) or ["(no [scenarios])"], f"{path}.scenario", "a scenario")
        fold = cfg.folds[scenarios[name]["fold"]]
        if spec["y"] not in fold.fields:
            self.choice(spec["y"], list(fold.fields), f"{path}.y", f"a field of fold {fold.name!r}")

    def import_fold(self, spec: str, path: str, base: Path) -> Any:
        try:
            return import_object(spec, base)
        except ReportConfigError as e:
            self.fail(f"{path}: {e}", path)


# -- helpers used by the runner as well ----------------------------------------------------------
def import_object(spec: str, base: Path) -> Any:
    """Import ``"package.module:attr"`` or ``"path/to/file.py:attr"`` and check it is a fold."""
    try:
        return load_fold(spec, base=base, python_folds=False)
    except InvalidFold as e:
        raise ReportConfigError(str(e)) from None


def _whatif() -> Any:
    try:
        return importlib.import_module("eventkit.analysis.whatif")
    except ImportError:
        return None


def _tuple(spec: Any) -> tuple[type, ...]:
    return spec if isinstance(spec, tuple) else (spec,)


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a table", _dt.date: "a date", _dt.datetime: "a date-time"}.get(t, t.__name__)


def _kind(value: Any) -> str:
    return _type_name(type(value)) if not isinstance(value, dict) else "a table"
