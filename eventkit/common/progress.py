"""Progress for long work: a tqdm bar on a terminal or in Jupyter, plain lines in logs.

A batch job's stderr is usually a file or a pipe, where tqdm's ``\\r`` frames pile up into one
unreadable line. There the same calls print a plain line now and then (at most every
``PLAIN_EVERY_SECONDS`` and at the end). Work with nothing to do (``total=0``) shows nothing.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

PLAIN_EVERY_SECONDS = 10.0


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


class _PlainLines:
    """The tqdm calls eventkit uses, printed as occasional whole lines (for logs and pipes)."""

    def __init__(self, *, total: int | None, desc: str, unit: str, stream: TextIO,
                 every: float = PLAIN_EVERY_SECONDS) -> None:
        self.total, self.desc, self.unit, self.stream, self.every = total, desc, unit, stream, every
        self.n = 0
        self.postfix = ""
        self.started = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def close(self) -> None:
        self._line(done=True)

    def _line(self, *, done: bool = False) -> None:
        of = f"/{self.total:,}" if self.total is not None else ""
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        took = f" in {time.monotonic() - self.started:.1f} s" if done else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n:,}{of} {self.unit}s{pct}{took}{extra}", file=self.stream, flush=True)


def _interactive(stream: TextIO) -> bool:
    """True on a terminal and in a Jupyter kernel (whose stderr is not a tty but shows widgets)."""
    if "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress_bar(*, total: int | None, desc: str, unit: str = "it", enabled: bool = True) -> Iterator[Any]:
    """Report progress of ``total`` steps: a bar when interactive, plain lines otherwise.

    Args:
        total: Steps expected (None if unknown). Zero means nothing to do: nothing is shown.
        desc: What is being done ("importing").
        unit: What one step is ("event").
        enabled: False shows nothing at all.
    """
    if not enabled or total == 0:
        yield _Silent()
        return
    stream = sys.stderr
    if not _interactive(stream):
        plain = _PlainLines(total=total, desc=desc, unit=unit, stream=stream)
        try:
            yield plain
        finally:
            plain.close()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=False)
    try:
        yield bar
    finally:
        bar.close()
