"""Shared fixtures. The store contract runs against each way events can be stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import pytest

import eventkit as ek

import _budget  # noqa: F401  (loads the hypothesis profile: HYPOTHESIS_PROFILE=ci|long)

matplotlib.use("Agg")

# hot: every append stays in the catalog's hot log; segments: every frame append becomes a
# Parquet segment at once; sealed: hot-log appends sealed into segments after each append.
STORAGE_MODES = ("hot", "segments", "sealed")


class SealingStore(ek.Store):
    """A store that seals after every append, so reads always come from segments."""

    def _append_hot(self, batch, expected, checkpoint=None):  # type: ignore[override]
        result = super()._append_hot(batch, expected, checkpoint)
        self.seal()
        return result


def make_store(path: Path, mode: str, **options) -> ek.Store:
    if mode == "hot":
        return ek.open_store(path, bulk_threshold=10**9, **options)
    if mode == "segments":
        return ek.open_store(path, bulk_threshold=1, **options)
    if mode == "sealed":
        return SealingStore(path, bulk_threshold=10**9, **options)
    raise ValueError(mode)


@pytest.fixture(params=STORAGE_MODES)
def storage_mode(request) -> str:
    return request.param


@pytest.fixture
def store(tmp_path, storage_mode) -> ek.Store:
    s = make_store(tmp_path / "store", storage_mode)
    yield s
    s.close()


@pytest.fixture
def fresh_store(tmp_path) -> ek.Store:
    s = ek.open_store(tmp_path / "store")
    yield s
    s.close()


def store_fingerprint(path: Path) -> dict[str, str]:
    """Hashes of every durable file in a store (the SQLite shared-memory index is not data)."""
    out = {}
    for p in sorted(Path(path).rglob("*")):
        if p.is_file() and not p.name.endswith("-shm"):
            out[p.relative_to(path).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
