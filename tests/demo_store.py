"""The demo store the dashboard, report and insight tests share: the demo factory's
first simulated day, stored as ``carbontwin demo`` stores it, footprints issued."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_demo_store(folder: Path, seed: int = 0) -> dict[str, Any]:
    """A SQLite store in ``folder`` with the demo day; returns url, day and issued footprints."""
    from carbontwin.api.demo import simulate_day
    from carbontwin.api.issuing import attribute_stored, issue_footprints
    from carbontwin.twin.store import Store

    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'carbontwin.db'}"
    day = simulate_day(seed=seed)
    store = Store.open(url)
    try:
        store.save_factory(day.factory)
        store.save_orders(day.orders)
        store.write_events(day.events)
        result = attribute_stored(store, day.factory)
        issued = issue_footprints(store, day.factory, result)
    finally:
        store.close()
    return {"url": url, "day": day, "result": result, "issued": issued}
