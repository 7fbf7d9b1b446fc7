"""Public import path ``eventkit.charts``; the code lives in :mod:`eventkit.analysis.charts`."""
from __future__ import annotations

from eventkit.analysis.charts import event_counts, event_rate, overlay, save_figure, stacked_area, trend_lines

__all__ = ['event_counts', 'event_rate', 'overlay', 'save_figure', 'stacked_area', 'trend_lines']
