"""Events the store refuses for good (another value under a stored key) are set aside in
the spool with the store's message; the events after them reach the store."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from carbontwin.connectors.spool import Flusher, Spool
from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store


def _power(rows: list[tuple[str, float, float]]) -> EventBatch:
    meters = np.empty(len(rows), dtype=object)
    meters[:] = [m for m, _, _ in rows]
    return EventBatch(
        power_meter=meters,
        power_t=np.array([t for _, t, _ in rows]),
        power_kw=np.array([p for _, _, p in rows]),
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_conflicting_events_are_set_aside_and_the_rest_is_stored(tmp_path, mode):
    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    store.write_events(_power([("M1", 10.0, 1.0), ("M1", 20.0, 2.0)]))
    spool = Spool(tmp_path / "spool.db")
    # 10 s: another value than stored (refused for good); 20 s: the same (a repeat);
    # 30 s and 40 s: new
    spool.put(_power([("M1", 10.0, 9.0), ("M1", 20.0, 2.0), ("M1", 30.0, 3.0)]))
    spool.put(_power([("M1", 40.0, 4.0)]))
    flusher = Flusher(spool, store.write_events, batch_size=10, interval_s=0.01)
    if mode == "sync":
        flusher.flush_all()
    else:

        async def go():
            stop = asyncio.Event()
            task = asyncio.create_task(flusher.run(stop))
            for _ in range(200):
                if spool.pending() == 0:
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 10)

        asyncio.run(go())
    stored = store.read_events()
    assert sorted(zip(stored.power_t, stored.power_kw, strict=True)) == [
        (10.0, 1.0),  # the stored value stands
        (20.0, 2.0),
        (30.0, 3.0),
        (40.0, 4.0),
    ]
    assert spool.pending() == 0
    assert flusher.rejected == 1
    ((kind, source, t, _, value, *_, reason),) = spool.rejected()
    assert (kind, source, t, value) == ("power", "M1", 10.0, 9.0)
    assert "power[0]" in reason
    assert "send it as a correction" in reason
    spool.close()
    store.close()


def test_connect_rejected_lists_what_the_spool_set_aside(tmp_path):
    import json

    from typer.testing import CliRunner

    from carbontwin.api.cli import app

    config = tmp_path / "line.json"
    spool_path = tmp_path / "spool.db"
    config.write_text(
        json.dumps(
            {
                "endpoint": "opc.tcp://127.0.0.1:1/",
                "spool": {"path": str(spool_path)},
                "signals": [{"kind": "power", "meter": "M1", "node": "i=2258", "unit": "W"}],
            }
        )
    )
    none = CliRunner().invoke(app, ["connect", str(config), "--rejected"])
    assert none.exit_code == 2
    assert "no spool at" in " ".join(none.output.split())
    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    store.write_events(_power([("M1", 10.0, 1.0)]))
    spool = Spool(spool_path)
    spool.put(_power([("M1", 10.0, 9.0), ("M1", 20.0, 2.0)]))
    Flusher(spool, store.write_events).flush_all()
    spool.close()
    store.close()
    out = CliRunner().invoke(app, ["connect", str(config), "--rejected", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["spool"] == str(spool_path)
    ((event,),) = [doc["rejected"]]
    assert (event["kind"], event["source"], event["t"], event["value"]) == (
        "power",
        "M1",
        10.0,
        9.0,
    )
    assert event["time"].startswith("1970-01-01T00:00:10")
    assert "power[0]" in event["reason"]
    text = CliRunner().invoke(app, ["connect", str(config), "--rejected"])
    assert text.output.startswith(f"1 event(s) set aside in {spool_path}")
