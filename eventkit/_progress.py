"""Progress bars for long work: tqdm on a terminal or in Jupyter, silent when disabled."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@contextmanager
def progress_bar(*, total: int | None, desc: str, unit: str = "it", enabled: bool = True) -> Iterator[Any]:
    """A tqdm bar when ``enabled`` (auto-selects the notebook widget), else a silent stand-in."""
    if not enabled:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=False)
    try:
        yield bar
    finally:
        bar.close()
