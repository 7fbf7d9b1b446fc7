"""A process that opens (creating) a store at the same moment as others; used by test_store_ops."""

from __future__ import annotations

import os


def open_and_append(path: str, barrier, results) -> None:  # noqa: ANN001 - multiprocessing objects
    import eventkit as ek

    barrier.wait()
    try:
        store = ek.open_store(path)
        store.append(f"s{os.getpid()}", ek.Event("Opened", {"pid": os.getpid()}))
        results.put(("ok", store._catalog.id_prefix))
        store.close()
    except BaseException as e:  # noqa: BLE001 - the test reports every failure
        results.put(("error", f"{type(e).__name__}: {e}"))
