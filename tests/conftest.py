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

    def _append_hot(self, batch, expected):  # type: ignore[override]
        result = super()._append_hot(batch, expected)
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


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 endpoint for the session: moto's standalone server (it stands in for S3) on a free
    local port. Skipped, saying why, where moto is not installed (CI installs it: the dev extra)."""
    import socket

    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install 'eventkit[dev]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 - any reason the server cannot start
        pytest.skip(f"moto's S3 server did not start on port {port}: {e}")
    yield f"http://127.0.0.1:{port}"
    server.stop()


S3_CREDENTIALS = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def new_bucket(endpoint: str) -> str:
    """A new, empty bucket on the test endpoint."""
    import uuid

    import boto3

    name = f"ek-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, **S3_CREDENTIALS).create_bucket(Bucket=name)
    return name
