"""Writers on several hosts (issue 12 item 3): one PostgreSQL catalog, one bucket, a folder and a read
cache per writer, writers racing on shared streams and SIGKILLed at random, then restarted.

Each writer is tests/_writer.py with ``EVENTKIT_TEST_S3`` (its own cache folder) and its own store
folder, as if on a host of its own; it fsyncs every acknowledged append's event ids to its own log
before counting it. At the end a fresh folder and cache check every invariant of DESIGN.md a
reader can see, the hash chain (``verify()``), and that every segment the catalog lists is in the bucket.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

import eventkit as ek
from eventkit.store.object_store import S3Files

from _catalogs import catalog_sql, store_catalog
from conftest import S3_CREDENTIALS, new_bucket
from test_store_processes import WRITER, acknowledged, catalog_env

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

HOSTS = 4
RUN_SECONDS = 18


def _files(endpoint: str, bucket: str, cache: Path) -> S3Files:
    return S3Files(bucket, "store", cache_dir=cache, endpoint_url=endpoint, **S3_CREDENTIALS)


def test_writers_on_several_hosts_keep_every_acknowledged_event_once(tmp_path, request, s3_endpoint):
    catalog = store_catalog("postgresql", request)
    bucket = new_bucket(s3_endpoint)
    ek.open_store(tmp_path / "host-0", catalog=catalog, files=_files(s3_endpoint, bucket, tmp_path / "cache-0")).close()
    rng = random.Random(12)
    logs: list[Path] = []
    killed: list[int] = []  # seeds of writers killed mid-run: each may leave one unacknowledged append
    seeds = iter(range(1000))

    def start(host: int, appends: int = 250) -> tuple[int, subprocess.Popen]:
        seed = next(seeds)
        log = tmp_path / f"ack-{seed}.log"
        logs.append(log)
        env = catalog_env(catalog)
        env["EVENTKIT_TEST_S3"] = f"{s3_endpoint} {bucket} store {tmp_path / f'cache-{host}'}"
        args = [sys.executable, WRITER, str(tmp_path / f"host-{host}"), str(log), str(seed), str(appends),
                "--shared-streams", "3"]
        return seed, subprocess.Popen(args, stderr=subprocess.PIPE, env=env)

    def kill_and_restart(host: int, appends: int = 250) -> None:
        seed, proc = running[host]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            killed.append(seed)
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        running[host] = start(host, appends)  # the host's writer restarts with its folder and cache as they were

    running = {host: start(host) for host in range(HOSTS)}
    ends = time.monotonic() + RUN_SECONDS
    while time.monotonic() < ends:
        time.sleep(rng.uniform(0.5, 2.0))
        kill_and_restart(rng.randrange(HOSTS))
    for host in range(HOSTS):  # a last, short writer on each host runs to its end
        kill_and_restart(host, appends=30)
    for seed, proc in running.values():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert len(killed) >= 3, "the test should have killed writers mid-run"

    acks = acknowledged(*logs)
    fresh = ek.open_store(tmp_path / "checker", catalog=catalog, create=False,
                          files=_files(s3_endpoint, bucket, tmp_path / "cache-checker"))
    df = fresh.sql("SELECT position, stream_id, version, event_id, event_type, data.batch AS batch, "
                   "data.size AS size, data.seen AS seen FROM events ORDER BY position").df()
    assert df["position"].tolist() == list(range(1, len(df) + 1)), "positions must be 1..head without gaps"
    assert len(df) == fresh.head
    for sid, g in df.groupby("stream_id"):
        assert g["version"].tolist() == list(range(1, len(g) + 1)), f"{sid}: versions must be 1..n in position order"
    bumped = df[df.event_type == "Bumped"]
    assert len(bumped) > 50 and (bumped["seen"] == bumped["version"] - 1).all(), \
        "exactly one racing writer wins each expected version"
    assert df["event_id"].is_unique, "no event is stored twice"
    missing = set(acks) - set(df["event_id"])
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    sizes = df.groupby("batch").agg(n=("position", "size"), size=("size", "first"))
    assert (sizes["n"] == sizes["size"]).all(), "no append is partly there"
    # What was not acknowledged is at most the one append each killed writer had in flight.
    unacked = df[~df["event_id"].isin(set(acks))]
    in_flight = unacked["batch"].unique()
    assert len(in_flight) <= len(killed), in_flight
    assert {b.split("-")[0] for b in in_flight} <= {f"w{s}" for s in killed}, in_flight

    report = fresh.verify()
    assert report.ok, str(report)
    listed = [p for (p,) in catalog_sql(tmp_path, catalog, "SELECT path FROM segments WHERE retired_at IS NULL")]
    assert len(listed) >= 3, "bulk appends and seals should have written segments to the bucket"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    in_bucket = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                 for o in page.get("Contents", [])}
    absent = [p for p in listed if f"store/{p}" not in in_bucket]
    assert not absent, f"segments the catalog lists but the bucket lacks: {absent[:3]}"
    assert not list((tmp_path / "checker").rglob("*.parquet")), "segments live in the bucket, not the folder"
    fresh.close()
