"""Public import path ``eventkit.trends``; the code lives in :mod:`eventkit.analysis.trends`."""
from __future__ import annotations

from eventkit.analysis.trends import aggregate, change, in_zone, period_grouper, resample, rolling, top_movers

__all__ = ['aggregate', 'change', 'in_zone', 'period_grouper', 'resample', 'rolling', 'top_movers']
