"""Hypothesis budgets: modest in CI, larger with ``HYPOTHESIS_PROFILE=long`` (``make test-long``).

Tests write ``settings(max_examples=budget(200))``: the number is the CI budget, multiplied by the
profile's factor (1 by default, 20 for ``long``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FACTORS = {"ci": 1, "long": 20}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in FACTORS:
    raise RuntimeError(f"HYPOTHESIS_PROFILE must be one of {sorted(FACTORS)}, not {PROFILE!r}")

settings.register_profile("ci", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=100 * FACTORS["long"])
settings.load_profile(PROFILE)


def budget(n: int) -> int:
    """The example budget for a test whose CI budget is ``n``."""
    return n * FACTORS[PROFILE]
