"""Shared fixtures. The store contract runs against each way events can be stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import pytest

import eventkit as ek

import _budget  # noqa: F401  (loads the hypothesis profile: HYPOTHESIS_PROFILE=ci|long)
from _catalogs import CATALOG_PARAMS, store_catalog

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


#: Test modules whose stores (the ``store``, ``fresh_store`` and ``catalog`` fixtures) run against every
#: catalog implementation (tests/_catalogs.py); elsewhere they use the default SQLite catalog.
EVERY_CATALOG = {"test_store_append", "test_store_read", "test_seal_compact", "test_store_processes",
                 "test_shared_catalog"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "catalog_kind" in metafunc.fixturenames:
        module = metafunc.module.__name__.rpartition(".")[2]
        metafunc.parametrize("catalog_kind", CATALOG_PARAMS if module in EVERY_CATALOG else ["sqlite"])


@pytest.fixture
def catalog(catalog_kind, request):
    """The ``catalog=`` argument for a new store: None (catalog.sqlite) or a fresh PostgreSQL schema."""
    return store_catalog(catalog_kind, request)


@pytest.fixture(params=STORAGE_MODES)
def storage_mode(request) -> str:
    return request.param


@pytest.fixture
def store(tmp_path, storage_mode, catalog) -> ek.Store:
    s = make_store(tmp_path / "store", storage_mode, catalog=catalog)
    yield s
    s.close()


@pytest.fixture
def fresh_store(tmp_path, catalog) -> ek.Store:
    s = ek.open_store(tmp_path / "store", catalog=catalog)
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
def postgres_url():
    """A throwaway PostgreSQL cluster for the session (tests/_postgres.py), started on first use.

    When it cannot be started the tests that need it are skipped with the reason, unless
    EVENTKIT_REQUIRE_POSTGRES=1 (CI), where that is an error.
    """
    import os

    from _postgres import PostgresUnavailable, start_cluster

    try:
        cluster = start_cluster()
    except PostgresUnavailable as e:
        if os.environ.get("EVENTKIT_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL could not be started: {e}")
    import atexit

    atexit.register(cluster.stop)  # also when the session ends without its teardown (Ctrl-C)
    yield cluster.url
    cluster.stop()


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
