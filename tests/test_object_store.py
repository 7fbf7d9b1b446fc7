"""Segment files on S3-compatible object storage (issue 12, item 2).

moto's standalone server (``moto[server]``, started by the ``s3_endpoint`` fixture in conftest.py)
stands in for S3: a local HTTP endpoint speaking the S3 API, conditional PUT (``If-None-Match: *``)
included. The file-store contract (tests/test_file_store_contract.py) runs unchanged against
:class:`S3Files`; these tests cover what is particular to it and a whole store on a bucket.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

import eventkit as ek
from eventkit.store.object_store import S3Files

from conftest import S3_CREDENTIALS, new_bucket
from test_file_store_contract import _write_bytes

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'eventkit[s3]')")


def _files(endpoint: str, bucket: str, cache: Path, prefix: str = "s") -> S3Files:
    return S3Files(bucket, prefix, cache_dir=cache, endpoint_url=endpoint, **S3_CREDENTIALS)


def test_two_hosts_never_replace_each_others_file(tmp_path: Path, s3_endpoint: str) -> None:
    """The conditional PUT is the bucket's: a second host with its own cache is refused too."""
    bucket = new_bucket(s3_endpoint)
    host_a, host_b = _files(s3_endpoint, bucket, tmp_path / "a"), _files(s3_endpoint, bucket, tmp_path / "b")
    host_a.write_once("segments/x.bin", _write_bytes(b"from a"))
    with pytest.raises(ek.StoreError, match="written once"):
        host_b.write_once("segments/x.bin", _write_bytes(b"from b"))
    assert Path(host_b.url("segments/x.bin")).read_bytes() == b"from a"  # downloaded into b's cache
    assert host_a.object_url("segments/x.bin") == f"s3://{bucket}/s/segments/x.bin"
    assert not Path(host_b.url("segments/none.parquet")).exists()  # a missing object: a missing file


def test_s3_files_pickle_for_dask_workers(tmp_path: Path, s3_endpoint: str) -> None:
    """A worker gets the bucket, prefix and options, and makes its own client."""
    files = _files(s3_endpoint, new_bucket(s3_endpoint), tmp_path / "c")
    files.write_once("a.bin", _write_bytes(b"a"))
    again = pickle.loads(pickle.dumps(files))
    assert again.read_bytes("a.bin") == b"a" and again.client is not files.client


def _frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [f"acct-{i % 5}" for i in range(start, start + n)], "event_type": "Deposited",
                         "amount": [float(i) for i in range(start, start + n)]})


def test_a_store_with_its_segments_in_a_bucket(tmp_path: Path, s3_endpoint: str, monkeypatch) -> None:
    """Bulk appends, seals, compaction, folds, fold states and clean-up, with every data file in the
    bucket and nothing but the catalog (and the read cache) on local disk."""
    bucket = new_bucket(s3_endpoint)
    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key.upper() if key != "region_name" else "AWS_DEFAULT_REGION", value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    store = ek.open_store(tmp_path / "s", files=f"s3://{bucket}/bank", bulk_threshold=20, grace_seconds=0)
    assert isinstance(store.files, S3Files)
    store.append_frame(_frame(30))                                   # a segment
    store.append("acct-9", [ek.Event("Deposited", {"amount": 1.5})])  # the hot log
    store.seal()
    store.append_frame(_frame(25, 30))
    fold = ek.Fold("f", fields={"total": ek.sum("amount"), "n": ek.count()})
    fold.save_snapshot(store)
    before = fold.state(store, use_snapshot=False)
    assert store.compact().merged_segments == 3
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    live = [k for k in keys if k.endswith(".parquet") and "/segments/" in k]
    assert len(live) == 1 and all(k.startswith("bank/") for k in keys)   # replaced ones deleted (grace 0)
    assert any("fold_states" in k for k in keys)
    assert not (tmp_path / "s" / "segments").exists()
    # A second host: another folder for its catalog copy is not needed; a fresh cache reads the bucket.
    store.close()
    again = ek.open_store(tmp_path / "s", files=S3Files(bucket, "bank", cache_dir=tmp_path / "host2",
                                                         endpoint_url=s3_endpoint, **S3_CREDENTIALS))
    pd.testing.assert_frame_equal(fold.state(again), before)
    assert again.read_stream("acct-9")["amount"].tolist() == [1.5]
    assert again.read_all()["position"].tolist() == list(range(1, 57))


def test_verify_checks_segments_in_the_bucket(tmp_path: Path, s3_endpoint: str) -> None:
    """verify() reads the live segments through the store's files (it looked in the local folder, so a
    store on a bucket was reported as missing every segment); an object changed in the bucket is found."""
    bucket = new_bucket(s3_endpoint)
    store = ek.open_store(tmp_path / "s", files=_files(s3_endpoint, bucket, tmp_path / "cache"), bulk_threshold=20)
    store.append_frame(_frame(30))
    store.append("acct-9", [ek.Event("Deposited", {"amount": 1.5})])
    store.seal()
    report = store.verify()
    assert report.ok and report.files == 2 and report.events_scanned == 31, str(report)
    store.close()
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".parquet"))
    s3.put_object(Bucket=bucket, Key=key, Body=b"not the segment")
    again = ek.open_store(tmp_path / "s", files=_files(s3_endpoint, bucket, tmp_path / "host2"))
    with pytest.raises(ek.TamperedStore, match="bytes differ"):
        again.verify()
    again.close()


def test_a_read_on_another_host_refuses_an_object_changed_in_the_bucket(tmp_path: Path, s3_endpoint: str) -> None:
    """The read guard checks the copy a host downloads, so an object edited in the bucket fails the
    first read that touches it (not only verify), naming the file; the host that cached the object
    before the edit keeps reading the bytes the catalog recorded."""
    bucket = new_bucket(s3_endpoint)
    store = ek.open_store(tmp_path / "s", files=_files(s3_endpoint, bucket, tmp_path / "cache"), bulk_threshold=20)
    store.append_frame(_frame(30))
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(30,)]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".parquet"))
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01  # one bit, inside the data pages: the file still parses
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    other = ek.open_store(tmp_path / "s", files=_files(s3_endpoint, bucket, tmp_path / "host2"))
    with pytest.raises(ek.TamperedStore, match=key.rsplit("/", 1)[-1]):
        other.sql("SELECT sum(data.amount) FROM events").fetchall()
    other.close()
    assert store.sql("SELECT count(*) FROM events").fetchall() == [(30,)]  # its copy is the recorded one
    store.close()
