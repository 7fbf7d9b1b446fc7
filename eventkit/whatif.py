"""Public import path ``eventkit.whatif``; the code lives in :mod:`eventkit.analysis.whatif`."""
from __future__ import annotations

from eventkit.analysis.whatif import NoMatch, Scenario

__all__ = ['NoMatch', 'Scenario']
