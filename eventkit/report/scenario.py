"""A report's what-if scenarios: built from the config's edits, and their per-stream table ranked
by the field the config names (``rank_by``), largest moves first.

May use :mod:`eventkit.common`, :mod:`eventkit.analysis` (what-if) and :mod:`.config`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from eventkit.common.errors import EventKitError
from eventkit.report.config import ReportConfig, as_list, time_value
from eventkit.store.event_store import Store


def build_scenario(store: Store, cfg: ReportConfig, name: str, spec: Mapping[str, Any]) -> Any:
    """The config's scenario ``name`` as a :class:`~eventkit.Scenario` (a view; nothing folded yet).

    Raises:
        ReportConfigError: An edit the store refuses, or one that matches nothing.
    """
    from eventkit.analysis import whatif

    scn = whatif.Scenario(store, name=name)
    for edit in ("drop", "change", "shift", "add"):
        key = f"scenarios.{name}.{edit}"
        for args in as_list(spec.get(edit)):
            try:
                # A selector naming a stream or event type the store lacks matches nothing:
                # in a batch report nobody reads the warning, so it stops the run instead.
                with warnings.catch_warnings():
                    warnings.simplefilter("error", whatif.NoMatch)
                    if edit == "add":
                        scn = scn.add(read_frame(cfg.resolve(args)))
                    else:
                        if isinstance(args.get("between"), list):
                            args = {**args, "between": tuple(time_value(t) for t in args["between"])}
                        scn = getattr(scn, edit)(**args)
            except (EventKitError, OSError, whatif.NoMatch) as e:
                raise cfg.error(f"{key}: {e}", key) from None
    return scn


def ranked_streams(streams: pd.DataFrame, *, rank_by: str | None, top: int, cfg: ReportConfig,
                   key: str) -> tuple[pd.DataFrame, list[str]]:
    """The streams the scenario moved, ranked by ``|<rank_by>_diff|`` (default: the first field
    that moved), with the fields that moved as baseline, scenario, difference; and the notes
    saying what is shown.

    Raises:
        ReportConfigError: ``rank_by`` names a field without a numeric difference.
    """
    diffs = [c for c in streams.columns if c.endswith("_diff")
             and pd.api.types.is_numeric_dtype(streams[c]) and streams[c].fillna(0).ne(0).any()]
    if rank_by is not None:
        col = f"{rank_by}_diff"
        if col not in streams.columns or not pd.api.types.is_numeric_dtype(streams[col]):
            numeric = [c[:-5] for c in streams.columns if c.endswith("_diff")
                       and pd.api.types.is_numeric_dtype(streams[c])]
            raise cfg.error(f"{key} = {rank_by!r} has no numeric difference to rank by; use one of: "
                            f"{', '.join(numeric) or '(none)'}", key)
        diffs = [col] + [d for d in diffs if d != col]
    moved = streams  # compare() returns only the streams that differ
    shown = moved
    if diffs:
        cols = ["stream_id"] + [f"{d[:-5]}{s}" for d in diffs for s in ("_baseline", "_scenario", "_diff")]
        order = moved[diffs[0]].abs().sort_values(ascending=False, kind="stable").index
        shown = moved.loc[order, [c for c in cols if c in moved.columns]]
    n = len(moved)
    note = f"{plural(n, 'stream')} {'differs' if n == 1 else 'differ'} from the baseline"
    if diffs and n:
        note += f"; the {plural(min(top, n), 'stream')} with the largest {diffs[0]} {'is' if min(top, n) == 1 else 'are'} shown"
    return shown.head(top).reset_index(drop=True), [note + "."]


def plural(n: int, word: str) -> str:
    """``1 stream``, ``2 streams``, ``1,234 streams``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def change_notes(scn: Any) -> list[str]:
    """What the scenario's edits changed, by kind of change."""
    try:
        changes = scn.changes()
    except Exception:  # an audit summary is a nicety; the comparison stands without it
        return []
    if not isinstance(changes, pd.DataFrame) or changes.empty:
        return ["The scenario changed no events."]
    col = next((c for c in ("change", "edit", "kind", "action") if c in changes.columns), None)
    if col is None:
        return [f"The scenario changed {plural(len(changes), 'event')}."]
    counts = changes[col].astype(str).value_counts().sort_index()
    return ["Events changed: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + "."]


def scenario_labels(data: pd.DataFrame, name: str | None = None) -> tuple[str, str]:
    """The two sides of an overlay table's ``scenario`` column: the baseline first.

    ``name`` (the scenario's): a scenario in which no stream exists has no rows, and must not
    then be taken for the baseline.
    """
    if name is not None:
        return "baseline", name
    labels = list(dict.fromkeys(data["scenario"].astype(str)))
    base = "baseline" if "baseline" in labels else labels[0]
    other = [x for x in labels if x != base]
    return base, (other[0] if other else base)


def read_frame(path: Path) -> pd.DataFrame:
    """Events to add, from a Parquet or CSV file."""
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    if "occurred_at" in frame.columns:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame
