"""The demo store the dashboard, report and insight tests share: the demo factory's
first simulated day, stored as ``carbontwin demo`` stores it, footprints issued."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_demo_store(folder: Path, seed: int = 0) -> dict[str, Any]:
    """A SQLite store in ``folder`` with the demo day; returns url, day, issued footprints
    and the signing key they were issued with (``key_path``)."""
    from carbontwin.api.demo import KEY_FILE, simulate_day
    from carbontwin.api.issuing import attribute_inputs, issue_footprints, read_inputs
    from carbontwin.plugins.signing import Signer, load_or_create_key
    from carbontwin.twin.store import Store

    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'carbontwin.db'}"
    day = simulate_day(seed=seed)
    store = Store.open(url)
    try:
        store.save_factory(day.factory)
        store.save_orders(day.orders)
        store.write_events(day.events)
        inputs = read_inputs(store)
        result = attribute_inputs(inputs)
        signer = Signer(load_or_create_key(folder / KEY_FILE))  # signed as the demo signs
        issued = issue_footprints(store, inputs, result, signer)
    finally:
        store.close()
    key_path = folder / KEY_FILE  # a service on this store signs with this key
    return {"url": url, "day": day, "result": result, "issued": issued, "key_path": key_path}


def copy_demo_store(built: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``built`` (see :func:`build_demo_store`) copied into ``folder``, for a test that
    writes to it. SQLite's backup copies what is committed, whether or not it is still in
    the write-ahead log (a server may have written to the store)."""
    import sqlite3

    source = sqlite3.connect(built["url"].removeprefix("sqlite:///"))
    target = sqlite3.connect(folder / "carbontwin.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    key = folder / built["key_path"].name
    key.write_bytes(built["key_path"].read_bytes())
    return {**built, "url": f"sqlite:///{folder / 'carbontwin.db'}", "key_path": key}
