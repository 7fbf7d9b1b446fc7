"""Headline figures: the few numbers at the top of a report, before any chart.

A config names them in ``[headlines.<name>]`` (``series`` + ``y``: the latest value and its
change since the point before; ``scenario`` + ``y``: the what-if effect, scenario minus
baseline, at the last point). Without that table the report shows a default: the latest value of
each chart's series (for a chart split ``by`` a column, its largest groups; a stacked area, its
total) and the effect of each overlay chart.

May use :mod:`eventkit.common` and :mod:`.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

from eventkit.report.config import ReportConfig, values_of

#: With no ``[headlines]``: the largest groups shown for a chart split by a column, and the most
#: figures in all.
GROUPS = 3
MOST = 8


@dataclass
class Headline:
    """One figure: ``label`` over a large ``value`` (with its ``unit``), a ``note`` under it."""

    label: str
    value: str
    unit: str = ""
    note: str = ""
    anchor: str = ""


def headline_specs(cfg: ReportConfig) -> dict[str, dict[str, Any]]:
    """The config's ``[headlines]``, or the default figures drawn from its charts."""
    if "headlines" in cfg.raw:
        return {name: dict(spec) for name, spec in cfg.raw["headlines"].items()}
    out: dict[str, dict[str, Any]] = {}
    for name, chart in cfg.section("charts").items():
        keep = {k: chart[k] for k in ("y", "query", "unit") if k in chart}
        keep.update(label=chart["title"], anchor=f"chart-{name}")
        if chart["kind"] in ("trend_lines", "stacked_area"):
            keep["series"] = chart["series"]
            if "by" in chart:
                # A stacked area is a total by construction; lines by group may not add up (a
                # ratio, an amount in each group's own unit), so each large group gets a figure.
                keep["groups"] = chart["by"]
                keep["total"] = chart["kind"] == "stacked_area"
            out[name] = keep
        elif chart["kind"] == "overlay":
            out[name] = {**keep, "scenario": chart["scenario"]}
    return out


def headline_figures(cfg: ReportConfig, specs: Mapping[str, Mapping[str, Any]], *,
                     tables: Mapping[str, pd.DataFrame], overlays: Mapping[str, pd.DataFrame],
                     query: Callable[[pd.DataFrame, str, str], pd.DataFrame],
                     one_unit: Callable[..., bool], tz: str) -> list[Headline]:
    """Compute the figures ``specs`` ask for from the report's series and overlay tables.

    Args:
        cfg: The report's configuration.
        specs: From :func:`headline_specs`.
        tables: Series name -> its table.
        overlays: Scenario name -> its overlay table (``as_of``, ``scenario``, fields).
        query: Filters a frame by a config's ``query`` (raising a config error for a bad one).
        one_unit: ``one_unit(data, fold, field, by, key, strict)``: whether ``field`` holds one unit
            in ``data``; with ``strict`` a mix is a config error.
        tz: The report's time zone (the dates in the notes).
    """
    explicit = "headlines" in cfg.raw
    out: list[Headline] = []
    for name, spec in specs.items():
        key = f"headlines.{name}" if explicit else f"charts.{name}"
        if "scenario" in spec:
            data = overlays[spec["scenario"]]
            if "query" in spec:
                data = query(data, spec["query"], f"{key}.query")
            fold = cfg.folds[cfg.section("scenarios")[spec["scenario"]]["fold"]]
            if not one_unit(data, fold, spec["y"], None, key, explicit):
                continue
            out.append(_effect(spec, data, tz))
            continue
        data = tables[spec["series"]]
        if "query" in spec:
            data = query(data, spec["query"], f"{key}.query")
        series = cfg.section("series")[spec["series"]]
        source = values_of(dict(series), series=True).get(spec["y"], (spec["y"], ""))[0]
        fold = cfg.folds[series["fold"]]
        groups = spec.get("groups")
        if groups is None or (spec.get("total") and one_unit(data, fold, source, None, key, False)):
            if one_unit(data, fold, source, None, key, explicit):
                out.append(_latest(spec, data, tz, spec.get("label", name)))
            continue
        unit_col = cfg.raw.get("units", {}).get(source)
        last = data[data["as_of"] == data["as_of"].max()]
        largest = last.groupby(groups)[spec["y"]].sum().abs().sort_values(ascending=False, kind="stable")
        for group in list(largest.index[:GROUPS]):
            unit = str(group) if unit_col == groups else spec.get("unit", "")
            out.append(_latest({**spec, "unit": unit}, data[data[groups] == group], tz,
                               f"{spec.get('label', name)}: {group}"))
    return out if explicit else out[:MOST]


def _latest(spec: Mapping[str, Any], data: pd.DataFrame, tz: str, label: str) -> Headline:
    y = spec["y"]
    per_point = data.groupby("as_of", sort=True)[y].sum(min_count=1)
    if per_point.empty:
        return Headline(label, "-", spec.get("unit", ""), "no data", spec.get("anchor", ""))
    at, value = per_point.index[-1], per_point.iloc[-1]
    # Amounts keep their cents (55.00 next to 79.50); counts show none.
    cents = 0 if per_point.dropna().eq(per_point.dropna().round()).all() else 2
    note = f"on {day(at, tz)}"
    if len(per_point) > 1:
        note += f", {signed(value - per_point.iloc[-2], cents)} since {day(per_point.index[-2], tz)}"
    if "complete" in data.columns and not data.loc[data["as_of"] == at, "complete"].fillna(True).all():
        note += " (period in progress)"
    return Headline(label, number(value, cents), spec.get("unit", ""), note, spec.get("anchor", ""))


def _effect(spec: Mapping[str, Any], data: pd.DataFrame, tz: str) -> Headline:
    from eventkit.report.scenario import scenario_labels

    y = spec["y"]
    base_name, scen_name = scenario_labels(data, spec.get("scenario"))
    # A side with no row at a point has no stream then: its total is 0 (a scenario that drops
    # every event has no rows at all; it was taken for the baseline, showing an effect of 0).
    sides = (data.groupby(["as_of", "scenario"])[y].sum().unstack("scenario")
             .reindex(columns=[base_name, scen_name]).sort_index().ffill().fillna(0))
    at = sides.index[-1]
    base, scen = sides[base_name].iloc[-1], sides[scen_name].iloc[-1]
    cents = 0 if sides.stack().eq(sides.stack().round()).all() else 2
    share = f" ({(scen - base) / abs(base):+.2%})" if base else ""
    note = f"{scen_name} − {base_name} on {day(at, tz)}: {number(base, cents)} → {number(scen, cents)}{share}"
    label = spec.get("label", f"Effect on {y}")
    return Headline(label, signed(scen - base, cents), spec.get("unit", ""), note, spec.get("anchor", ""))


def number(value: Any, decimals: int | None = None) -> str:
    """``13,512,345.67``; by default a whole number without decimals: ``1,250``."""
    if value is None or pd.isna(value):
        return "-"
    value = float(value)
    if decimals is None:
        decimals = 0 if value == round(value) else 2
    return f"{value:,.{decimals}f}"


def signed(value: Any, decimals: int | None = None) -> str:
    """A change: ``+34,600.12``, ``−1,250``, ``0``."""
    text = number(value, decimals)
    if text == "-" or float(value) == 0:
        return text
    return text.replace("-", "−") if text.startswith("-") else f"+{text}"


def day(value: Any, tz: str) -> str:
    """A point in time as its date (with the time when not midnight) in the report's zone."""
    t = pd.Timestamp(value)
    t = t.tz_convert(tz) if t.tzinfo else t.tz_localize("UTC").tz_convert(tz)
    return t.strftime("%Y-%m-%d %H:%M") if (t.hour or t.minute) else t.strftime("%Y-%m-%d")
