"""A writer process for the multi-process and kill tests: appends, seals, compacts, logs acks.

Usage: python _writer.py STORE ACK_LOG SEED APPENDS [--shared-streams N]
(the store's catalog: ``EVENTKIT_TEST_CATALOG``, a postgresql:// URL, or the default; its segment
files: ``EVENTKIT_TEST_S3`` = ``ENDPOINT BUCKET PREFIX CACHE_DIR``, an S3 bucket read through this
writer's own cache folder as on a host of its own, or the store folder)

Every append's events carry ``batch`` (a unique name) and ``size`` (events in the append), so a
reader can tell a whole append from a partial one. After each acknowledged append the writer
writes its event ids to ACK_LOG and flushes (and fsyncs, with ``EVENTKIT_TEST_S3``), so the log
never claims more than the store holds.
"""

from __future__ import annotations

import os
import random
import sys
import uuid

import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import eventkit as ek  # noqa: E402


def main() -> None:
    store_path, log_path, seed, appends = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    shared = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--shared-streams" else 0
    rng = random.Random(seed)
    files = None
    if os.environ.get("EVENTKIT_TEST_S3"):
        from eventkit.store.object_store import S3Files

        endpoint, bucket, prefix, cache = os.environ["EVENTKIT_TEST_S3"].split()
        files = S3Files(bucket, prefix, cache_dir=cache, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")
    store = ek.open_store(store_path, bulk_threshold=50, seal_threshold=400, grace_seconds=0.5,
                          catalog=os.environ.get("EVENTKIT_TEST_CATALOG") or None, files=files)
    log = _AckLog(log_path, sync=files is not None)
    for i in range(appends):
        batch = f"w{seed}-{i}"
        roll = rng.random()
        if shared and roll < 0.5:
            # Race on shared streams with an exact expected version; a lost race is retried.
            sid = f"shared-{rng.randrange(shared)}"
            while True:
                current = store.stream_version(sid)
                eid = str(uuid.uuid4())
                try:
                    store.append(sid, ek.Event("Bumped", {"batch": batch, "size": 1, "seen": current}, event_id=eid),
                                 expected_version=current if current else ek.NO_STREAM, stream_type="counter")
                    break
                except ek.WrongExpectedVersion:
                    continue
            log.write(f"{batch} {eid}\n")
        elif roll < 0.8:
            n = rng.randint(1, 5)
            ids = [str(uuid.uuid4()) for _ in range(n)]
            store.append(f"own-{seed}-{rng.randrange(20)}",
                         [ek.Event("Noted", {"batch": batch, "size": n, "k": k}, event_id=e) for k, e in enumerate(ids)],
                         stream_type="note")
            log.write("".join(f"{batch} {e}\n" for e in ids))
        elif roll < 0.95:
            n = rng.randint(40, 120)  # around bulk_threshold: some hot, some segment appends
            ids = [str(uuid.uuid4()) for _ in range(n)]
            frame = pd.DataFrame({"stream_id": [f"bulk-{seed}-{rng.randrange(50)}" for _ in range(n)],
                                  "event_type": "Loaded", "event_id": ids, "batch": batch, "size": n,
                                  "amount": [rng.random() for _ in range(n)]})
            store.append_frame(frame, stream_type="bulk")
            log.write("".join(f"{batch} {e}\n" for e in ids))
        elif roll < 0.98:
            store.seal()
        else:
            store.compact(target_events=5_000)
    log.close()
    store.close()


class _AckLog:
    """The acknowledgement log: each write is flushed, and fsynced when ``sync`` (a host's disk)."""

    def __init__(self, path: str, *, sync: bool) -> None:
        self._file = open(path, "a", buffering=1)
        self._sync = sync

    def write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if self._sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


if __name__ == "__main__":
    main()
