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


def _config(tmp_path, spool_path):
    import json

    config = tmp_path / "line.json"
    config.write_text(
        json.dumps(
            {
                "endpoint": "opc.tcp://127.0.0.1:1/",
                "spool": {"path": str(spool_path)},
                "store": {"url": f"sqlite:///{tmp_path / 'twin.db'}"},
                "signals": [{"kind": "power", "meter": "M1", "node": "i=2258", "unit": "W"}],
            }
        )
    )
    return config


def test_correct_rejected_replaces_the_stored_values_and_keeps_the_old_ones(tmp_path):
    import json

    from typer.testing import CliRunner

    from carbontwin.api.cli import app

    spool_path = tmp_path / "spool.db"
    config = _config(tmp_path, spool_path)
    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    store.write_events(_power([("M1", 10.0, 1.0), ("M2", 10.0, 5.0), ("M1", 30.0, 3.0)]))
    spool = Spool(spool_path)
    # M1 at 10 s refused twice with two values (the connector read it again later), M2
    # at 10 s once; M1 at 20 s is new
    spool.put(_power([("M1", 10.0, 9.0), ("M2", 10.0, 6.0), ("M1", 20.0, 2.0)]))
    Flusher(spool, store.write_events).flush_all()
    spool.put(_power([("M1", 10.0, 9.5)]))
    Flusher(spool, store.write_events).flush_all()
    assert [(r[1], r[4]) for r in spool.rejected()] == [("M1", 9.0), ("M2", 6.0), ("M1", 9.5)]
    spool.close()
    store.close()

    # only M1's: its latest value replaces the stored one
    out = CliRunner().invoke(
        app, ["connect", str(config), "--correct-rejected", "--source", "M1", "--json"]
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert (doc["sent"], doc["corrected"], doc["unchanged"], doc["new"]) == (2, 1, 0, 0)
    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    stored = store.read_events()
    assert sorted(zip(stored.power_meter, stored.power_t, stored.power_kw, strict=True)) == [
        ("M1", 10.0, 9.5),
        ("M1", 20.0, 2.0),
        ("M1", 30.0, 3.0),
        ("M2", 10.0, 5.0),  # not sent: still the stored value
    ]
    (old,) = store.event_history("power")
    assert (old["old"][-1], old["new"][-1]) == (1.0, 9.5)
    store.close()
    spool = Spool(spool_path)
    assert [(r[1], r[4]) for r in spool.rejected()] == [("M2", 6.0)]
    assert [(r[1], r[4]) for r in spool.resent()] == [("M1", 9.0), ("M1", 9.5)]
    spool.close()

    # the rest, in words; then nothing is left
    text = CliRunner().invoke(app, ["connect", str(config), "--correct-rejected"])
    assert text.exit_code == 0, text.output
    said = " ".join(text.output.split())
    assert said.startswith(f"1 event(s) set aside in {spool_path} sent to the store")
    assert "1 replaced a stored value" in said
    again = CliRunner().invoke(app, ["connect", str(config), "--correct-rejected"])
    assert " ".join(again.output.split()) == f"no events set aside in {spool_path}"
    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    stored = store.read_events()
    assert ("M2", 10.0, 6.0) in set(
        zip(stored.power_meter, stored.power_t, stored.power_kw, strict=True)
    )
    store.close()


def test_correct_rejected_keeps_them_set_aside_when_the_store_fails(tmp_path):
    from carbontwin.twin.errors import StoreError

    store = Store.open(f"sqlite:///{tmp_path / 'twin.db'}")
    store.write_events(_power([("M1", 10.0, 1.0)]))
    spool = Spool(tmp_path / "spool.db")
    spool.put(_power([("M1", 10.0, 9.0)]))
    Flusher(spool, store.write_events).flush_all()

    def down(batch):
        raise StoreError("the database is down")

    with pytest.raises(StoreError):
        spool.correct_rejected(down)
    assert [(r[1], r[2], r[4]) for r in spool.rejected()] == [("M1", 10.0, 9.0)]
    assert spool.resent() == []

    # the store commits, then the process dies before the spool moves them: sent again,
    # the store takes them as a repeat
    def commit_then_die(batch):
        store.ingest(batch)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spool.correct_rejected(commit_then_die)
    assert len(spool.rejected()) == 1
    n, settled = spool.correct_rejected(store.ingest)
    assert (n, settled.corrected, settled.unchanged) == (1, 0, 1)
    assert spool.rejected() == []
    assert [(r[1], r[4]) for r in spool.resent()] == [("M1", 9.0)]
    assert float(store.read_events().power_kw[0]) == 9.0
    assert len(store.event_history("power")) == 1
    spool.close()
    store.close()


def test_source_needs_correct_rejected(tmp_path):
    from typer.testing import CliRunner

    from carbontwin.api.cli import app

    config = _config(tmp_path, tmp_path / "spool.db")
    out = CliRunner().invoke(app, ["connect", str(config), "--source", "M1"])
    assert out.exit_code == 2
    assert "--correct-rejected" in " ".join(out.output.split())
