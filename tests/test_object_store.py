"""Segment files on S3-compatible object storage: the file-store contract against a real S3 endpoint.

moto's standalone server (``moto[server]`` from PyPI) stands in for S3: a local HTTP endpoint
speaking the S3 API, conditional PUT (``If-None-Match: *``) included. It starts once per session
on a free port; without moto the tests are skipped, naming why (CI installs it: the dev extra).
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

import eventkit as ek
from eventkit.store.file_store import FileStore
from eventkit.store.object_store import S3Files

from test_file_store_contract import FileStoreContract, _write_bytes

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'eventkit[s3]')")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (the dev extra has it)")

CREDENTIALS = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free local port, for the whole session."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 - any reason the server cannot start
        pytest.skip(f"moto's S3 server did not start: {e}")
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _bucket(endpoint: str) -> str:
    name = f"ek-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket=name)
    return name


class TestS3Files(FileStoreContract):
    """The same contract the local folder passes, unchanged, on the S3 endpoint."""

    @pytest.fixture
    def files(self, tmp_path: Path, s3_endpoint: str) -> FileStore:
        return S3Files(_bucket(s3_endpoint), "stores/one", cache_dir=tmp_path / "cache",
                       endpoint_url=s3_endpoint, **CREDENTIALS)


def test_two_hosts_never_replace_each_others_file(tmp_path: Path, s3_endpoint: str) -> None:
    """The conditional PUT is the bucket's: a second host with its own cache is refused too."""
    bucket = _bucket(s3_endpoint)
    host_a = S3Files(bucket, "s", cache_dir=tmp_path / "a", endpoint_url=s3_endpoint, **CREDENTIALS)
    host_b = S3Files(bucket, "s", cache_dir=tmp_path / "b", endpoint_url=s3_endpoint, **CREDENTIALS)
    host_a.write_once("segments/x.bin", _write_bytes(b"from a"))
    with pytest.raises(ek.StoreError, match="written once"):
        host_b.write_once("segments/x.bin", _write_bytes(b"from b"))
    assert Path(host_b.url("segments/x.bin")).read_bytes() == b"from a"  # downloaded into b's cache
    assert host_a.object_url("segments/x.bin") == f"s3://{bucket}/s/segments/x.bin"


def test_a_missing_object_reads_as_a_missing_file(tmp_path: Path, s3_endpoint: str) -> None:
    files = S3Files(_bucket(s3_endpoint), cache_dir=tmp_path / "c", endpoint_url=s3_endpoint, **CREDENTIALS)
    assert not Path(files.url("segments/none.parquet")).exists()
    assert files.listing("segments") == []
