"""Read a store that this process cannot write, and try to write it; prints what happened as JSON.

Run by test_store_ops as another user (or on a read-only folder) so that permissions really apply.
"""

from __future__ import annotations

import json
import sys

import eventkit as ek


def main(path: str) -> None:
    out: dict = {}
    store = ek.open_store(path)
    out["read_all"] = store.read_all()["n"].tolist()
    out["read_stream"] = store.read_stream("b")["n"].tolist()
    out["sql"] = store.sql("SELECT count(*) FROM events").fetchall()[0][0]
    out["info_events"] = store.info().events
    out["fold"] = ek.Fold("default", fields={"n": ek.sum("n")}).state(store)["n"].tolist()
    for name, write in (("append", lambda: store.append("a", ek.Event("E", {"n": 5}))),
                        ("seal", store.seal), ("compact", store.compact)):
        try:
            write()
            out[name] = "written"
        except ek.StoreError as e:
            out[name] = "StoreError: " + str(e)
        except Exception as e:  # noqa: BLE001 - reported to the test
            out[name] = f"raw {type(e).__name__}: {e}"
    store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
