"""Public import path ``eventkit.demo`` and ``python -m eventkit.demo``; the code lives in :mod:`eventkit.samples.demo`."""
from __future__ import annotations

import sys

from eventkit.samples.demo import (
    DEFAULT_STORE,
    EXAMPLES,
    FLIGHTS_STORE,
    build_flights_store,
    build_sample_store,
    main,
    run_report,
)

__all__ = ["DEFAULT_STORE", "EXAMPLES", "FLIGHTS_STORE", "build_flights_store", "build_sample_store", "main",
           "run_report"]

if __name__ == "__main__":
    sys.exit(main())
