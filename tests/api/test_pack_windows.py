"""Verifier's packs of footprints issued window by window (``carbontwin-pack/3``, and the
earlier ``/2``): they recompute bit for bit from the pack alone, the same bytes after the
windows' raw events were archived to Parquet, and a changed sample fails exactly what it
changes."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontwin.api._pack_form import FORMAT_WINDOWS, FORMAT_WINDOWS_JSON, _zip
from carbontwin.api._recompute import _ISSUED
from carbontwin.api.cli import app
from carbontwin.api.issuing import issue_windows
from carbontwin.api.pack import build_pack, recompute, write_pack
from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.lineage import (
    EVENT_KINDS,
    events_from_parquet,
    events_to_dict,
    events_to_parquet,
)
from carbontwin.twin.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "twin"))
from test_windows import plant  # noqa: E402  (the windowed-issuing tests' random plants)

runner = CliRunner()
RULES = {"max_sample_interval_s": 900.0}
#: lineage parts recompute compares (test_pack's whole-history ones and factor_versions)
LINEAGE = ("filled_gaps", "supplier_pcfs", "events", "factors", "factory", "rules")


def _store(url: str, seed: int, signer, events=None, *, orders=False) -> tuple[Store, list]:
    """Plant ``seed`` stored and issued window by window (shifts as windows); ``orders``:
    its orders also stored (``PUT /orders``), each with quantity 25 instead of the
    factory file's 10."""
    from dataclasses import replace

    factory, planted = plant(seed)
    store = Store.open(url)
    store.save_factory(factory)
    if orders:
        store.save_orders([replace(o, quantity=25.0) for o in factory.orders])
    store.write_events(EventBatch.from_events(planted if events is None else events))
    run = issue_windows(store, signer, RULES, factors=FactorSet.default(factory), window="period")
    return store, list(run.issued)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _window(files: dict[str, bytes], i: int) -> dict:
    """Window ``i``'s events (columns as lists) from its Parquet members."""
    parts = {k: files[f"windows/{i:04d}/{k}.parquet"] for k in EVENT_KINDS}
    return events_to_dict(events_from_parquet(parts))


def _failed(report) -> set[str]:
    return {c.what for c in report.checks if not c.ok}


@pytest.mark.parametrize(("seed", "stored_orders"), [(0, False), (2, True)])
def test_windowed_footprints_pack_and_recompute(tmp_path, signer, seed, stored_orders):
    store, issued = _store(f"sqlite:///{tmp_path / 'w.db'}", seed, signer, orders=stored_orders)
    assert len(issued) >= 3
    assert max(len(fp.lineage["events"]["windows"]) for fp in issued) >= 4
    for fp in issued:
        packed: list[tuple[int, int]] = []
        again: list[tuple[int, int]] = []
        data = build_pack(store, fp.id, on_window=lambda d, n, out=packed: out.append((d, n)))
        report = recompute(data, on_window=lambda d, n, out=again: out.append((d, n)))
        assert report.ok, (fp.order, [c for c in report.checks if not c.ok])
        assert report.order == fp.order
        wins = fp.lineage["events"]["windows"]
        # progress: once per window of the lineage, in order
        n = len(wins)
        assert packed == again == [(i, n) for i in range(1, n + 1)]
        files = _members(data)
        manifest = json.loads(files["manifest.json"])
        assert manifest["format"] == FORMAT_WINDOWS
        assert sorted(n for n in files if n.startswith("windows/")) == sorted(
            f"windows/{i:04d}/{k}.parquet" for i in range(len(wins)) for k in EVENT_KINDS
        )
        assert set(manifest["files"]) == set(files) - {"manifest.json"}
        # each window member holds the events the window's issue read: its count and the
        # step orders whose stored records orders.json carries
        for i, w in enumerate(wins):
            ev = _window(files, i)
            assert (
                sum(len(ev[c]) for c in ("state_t", "power_t", "counter_t"))
                + len(ev["step_start"])
                + len(ev["gap_start"])
                == w["count"]
            )
        orders = {o["id"]: o for o in json.loads(files["orders.json"])["orders"]}
        if stored_orders:  # the stored records the windows and the issue used
            assert orders[fp.order]["quantity"] == fp.quantity == 25.0
            steps_in = {o for i in range(len(wins)) for o in _window(files, i)["step_order"]}
            assert set(orders) == steps_in | {fp.order}
        else:  # the factory file's own orders (in factory.json)
            assert orders == {}
            assert fp.quantity == 10.0
        steps = json.loads(files["order_events.json"])
        assert set(steps["step_order"]) == {fp.order}
        names = {c.what for c in report.checks}
        assert {
            "signature",
            "factory sha256",
            "factory version sha256",
            "factors sha256",
            "events sha256",
            "input digest",
            "co2e_kg",
            "energy_by_asset_kwh",
            *(f"window {i} events" for i in range(len(wins))),
            *(f"file windows/{i:04d}/power.parquet" for i in range(len(wins))),
        } <= names
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}"
        return
    from db_helpers import postgres_schema

    with postgres_schema(request.getfixturevalue("postgres_url")) as u:
        yield u


def test_archived_windows_pack_to_the_same_bytes(url, tmp_path, signer):
    store, issued = _store(url, 0, signer)
    before = {fp.id: build_pack(store, fp.id) for fp in issued}
    rows = store.count_events()
    cut = max(w.end for w in store.attributed_windows())
    files = store.archive(cut, tmp_path / "arch")
    assert sum(f.rows for f in files) > 0
    assert store.count_events()["power_samples"] < rows["power_samples"]
    for fp in issued:
        data = build_pack(store, fp.id)  # the windows' events read back from Parquet
        assert data == before[fp.id], fp.order
        assert recompute(data).ok
    # a changed archive file is refused, not packed
    with open(files[0].path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(StoreError, match="changed since it was written"):
        build_pack(store, issued[0].id)
    store.close()


def _changed_sample(store: Store, files: dict[str, bytes], fp) -> tuple[int, float, str]:
    """A power sample of a window of the footprint next to which the window's stored
    pieces give the order energy of its meter, neither the first nor the last of its meter
    in the window (so no other window's slice carries it): (window, time, meter)."""
    from carbontwin.twin.windows import read_pieces

    wins = fp.lineage["events"]["windows"]
    stored = store.window_records([w["start"] for w in wins])
    for i, w in enumerate(wins):
        pieces = read_pieces(stored[w["start"]][1])
        mine = pieces[(pieces["order"] == fp.order) & (pieces["energy_kwh"] > 0)]
        ev = _window(files, i)
        by_meter: dict[str, list[float]] = {}
        for m, t in zip(ev["power_meter"], ev["power_t"], strict=True):
            if w["start"] <= t < w["end"]:
                by_meter.setdefault(m, []).append(t)
        for m, ts in sorted(by_meter.items()):
            ts = sorted(ts)
            at = mine.loc[mine["source"] == m, "t"].to_numpy()
            for j in range(1, len(ts) - 1):
                if ((at >= ts[j - 1]) & (at < ts[j + 1])).any():
                    return i, ts[j], m
    raise AssertionError("no inner power sample next to energy of the order")


def test_a_changed_sample_fails_exactly_what_it_changes(tmp_path, signer):
    from carbontwin.twin.events import PowerSample

    store, issued = _store(f"sqlite:///{tmp_path / 't.db'}", 0, signer)
    fp = max(issued, key=lambda f: len(f.lineage["events"]["windows"]))
    data = build_pack(store, fp.id)
    files = _members(data)
    k, t, meter = _changed_sample(store, files, fp)
    name = f"windows/{k:04d}/power.parquet"
    ev = events_from_parquet({x: files[f"windows/{k:04d}/{x}.parquet"] for x in EVENT_KINDS})
    j = next(
        j
        for j, (m, tt) in enumerate(zip(ev.power_meter, ev.power_t, strict=True))
        if m == meter and tt == t
    )
    ev.power_kw[j] += 7.0
    files[name] = events_to_parquet(ev)["power"]
    report = recompute(_zip(files))  # a well-formed pack around the changed sample
    assert next(c for c in report.checks if c.what == "pack form").ok
    # the second method: the same plant with that sample changed, stored and issued
    _, planted = plant(0)
    changed = [
        PowerSample(e.meter, e.t, e.power_kw + 7.0)
        if isinstance(e, PowerSample) and e.meter == meter and e.t.timestamp() == t
        else e
        for e in planted
    ]
    assert sum(a is not b for a, b in zip(changed, planted, strict=True)) == 1
    other, again = _store(f"sqlite:///{tmp_path / 'u.db'}", 0, signer, changed)
    fp2 = next(f for f in again if f.order == fp.order)
    a, b = fp.to_dict(), fp2.to_dict()
    figures = {n for n in a if n not in _ISSUED and a[n] != b[n]}
    assert {"energy_kwh", "co2e_kg"} <= figures  # the sample counts for this order
    lineage = {
        f"lineage {n}"
        for n in (*LINEAGE, "factor_versions")
        if a["lineage"].get(n) != b["lineage"].get(n)
    }
    assert lineage == {"lineage events"}
    assert _failed(report) == {
        f"file {name}",
        f"window {k} events",
        "events sha256",
        "input digest",
        *lineage,
        *figures,
    }
    # the recomputation gives the second method's figures, bit for bit
    detail = {c.what: c.detail for c in report.checks}
    assert f"recomputed {b['energy_kwh']!r}" in detail["energy_kwh"]
    other.close()
    store.close()


def test_a_pack_file_is_checked_as_its_bytes(tmp_path, signer):
    """``recompute`` of a file reads it member by member; it reports what the same bytes
    in memory give: a sound pack, a flipped byte inside a window's member (its CRC),
    bytes appended after the zip."""
    store, issued = _store(f"sqlite:///{tmp_path / 't.db'}", 0, signer)
    fp = max(issued, key=lambda f: len(f.lineage["events"]["windows"]))
    path = tmp_path / "p.zip"
    with open(path, "wb") as f:
        size = write_pack(store, fp.id, f)
    store.close()
    data = path.read_bytes()
    assert size == len(data)

    def checks(report) -> list[tuple[str, bool, str]]:
        return [(c.what, c.ok, c.detail) for c in report.checks]

    sound = recompute(path)
    assert sound.ok
    assert checks(sound) == checks(recompute(data))
    assert sum(c.what.startswith("window ") for c in sound.checks) == len(
        fp.lineage["events"]["windows"]
    )
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("windows/0001/power.parquet")
    # the member's data starts after its local header (30 bytes, its name, no extra field)
    at = info.header_offset + 30 + len(info.filename) + 100
    flipped = bytearray(data)
    flipped[at] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(flipped))
    got = recompute(bad)
    assert checks(got) == checks(recompute(bytes(flipped)))
    assert _failed(got) == {"pack"}
    assert "windows/0001/power.parquet" in got.checks[0].detail
    bad.write_bytes(data + b"carbontwin")
    got = recompute(bad)
    assert checks(got) == checks(recompute(data + b"carbontwin"))
    assert "pack form" in _failed(got)


def test_a_pack_of_the_earlier_format_still_recomputes(tmp_path, signer):
    """A ``carbontwin-pack/2`` (each window's events one JSON file, as packs were made
    before) of the same footprint: written here from the ``/3`` pack's members."""
    store, issued = _store(f"sqlite:///{tmp_path / 'o.db'}", 0, signer)
    fp = max(issued, key=lambda f: len(f.lineage["events"]["windows"]))
    files = _members(build_pack(store, fp.id))
    n = len(fp.lineage["events"]["windows"])
    old = {k: v for k, v in files.items() if not k.startswith("windows/")}
    for i in range(n):
        old[f"windows/{i:04d}.json"] = json.dumps(
            _window(files, i), separators=(",", ":"), ensure_ascii=False
        ).encode()
    manifest = json.loads(old["manifest.json"])
    assert manifest["format"] == FORMAT_WINDOWS
    manifest["format"] = FORMAT_WINDOWS_JSON
    manifest["files"] = {
        k: hashlib.sha256(v).hexdigest() for k, v in old.items() if k != "manifest.json"
    }
    old["manifest.json"] = json.dumps(manifest, indent=1).encode()
    report = recompute(_zip(old))
    assert report.ok, [c for c in report.checks if not c.ok]
    names = {c.what for c in report.checks}
    assert {f"file windows/{i:04d}.json" for i in range(n)} | {"energy_kwh"} <= names
    # its windows in Parquet members under the old format name are not its windows
    mixed = {**files, "manifest.json": old["manifest.json"]}
    assert "windows" in _failed(recompute(_zip(mixed)))
    store.close()


def test_a_window_changed_since_the_issue_is_not_packed(tmp_path, signer):
    store, issued = _store(f"sqlite:///{tmp_path / 'l.db'}", 0, signer)
    fp = max(issued, key=lambda f: len(f.lineage["events"]["windows"]))
    w = fp.lineage["events"]["windows"][1]
    meter = store.load_factory().meters[0].id
    from carbontwin.twin.events import PowerSample

    t = datetime.fromtimestamp((w["start"] + w["end"]) / 2 + 0.5, UTC)
    store.write_events(EventBatch.from_events([PowerSample(meter, t, 3.0)]))
    with pytest.raises(StoreError, match=r"window 1 \[") as exc:
        build_pack(store, fp.id)
    assert w["sha256"] in str(exc.value)
    store.close()


def test_a_pack_that_fails_midway_leaves_the_file_before_it(tmp_path, signer):
    """``carbontwin pack`` writes beside its target and renames when whole: a window
    found changed after earlier windows were written ends the command with the error,
    and the file that was there (a pack written before) is as it was, no part left."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    store, issued = _store(url, 0, signer)
    fp = max(issued, key=lambda f: len(f.lineage["events"]["windows"]))
    windows = fp.lineage["events"]["windows"]
    assert len(windows) >= 3
    out = tmp_path / "packs" / "O.zip"
    out.parent.mkdir()
    r = runner.invoke(app, ["pack", fp.id, "--database-url", url, "--out", str(out)])
    assert r.exit_code == 0, r.output
    before = out.read_bytes()
    assert recompute(before).ok
    # a late sample in the last window: the windows before it are read and spooled first
    w = windows[-1]
    meter = store.load_factory().meters[0].id
    from carbontwin.twin.events import PowerSample

    t = datetime.fromtimestamp((w["start"] + w["end"]) / 2 + 0.5, UTC)
    store.write_events(EventBatch.from_events([PowerSample(meter, t, 3.0)]))
    store.close()
    r = runner.invoke(app, ["pack", fp.id, "--database-url", url, "--out", str(out)])
    assert r.exit_code == 1
    assert isinstance(r.exception, StoreError)
    assert f"window {len(windows) - 1} [" in str(r.exception)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["O.zip"]
    # a folder that is not there is named, not created
    missing = tmp_path / "nowhere" / "O.zip"
    r = runner.invoke(app, ["pack", fp.id, "--database-url", url, "--out", str(missing)])
    assert r.exit_code == 2
    said = " ".join(r.output.replace("│", " ").split())  # the error box wraps long paths
    assert "Invalid value for '--out'" in said
    assert "does not exist; create it or write elsewhere" in said
    assert not missing.parent.exists()


def test_route_and_commands_pack_a_windowed_footprint(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from api_helpers import get_token, make_settings

    from carbontwin.api import create_app

    db = f"sqlite:///{tmp_path / 'twin.db'}"
    key = ["--key-path", str(tmp_path / "signing.pem")]
    factory, events = plant(2)
    with Store.open(db) as store:
        store.save_factory(factory)
        store.write_events(EventBatch.from_events(events))
    r = runner.invoke(app, ["issue", "--database-url", db, *key, "--window", "period", "--json"])
    assert r.exit_code == 0, r.output
    with Store.open(db) as store:
        fp = max(
            (store.latest_footprint(f"O{k}") for k in range(6)),
            key=lambda f: -1 if f is None else len(f.lineage["events"]["windows"]),
        )
        assert fp is not None
        assert "windows" in fp.lineage["events"]
        cut = max(w.end for w in store.attributed_windows())
    out = tmp_path / "O.zip"
    r = runner.invoke(app, ["pack", fp.order, "--database-url", db, "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["recompute", str(out)])
    assert r.exit_code == 0, r.output
    assert "checks match bit for bit" in r.output
    assert "window 0 events" in r.output
    before = datetime.fromtimestamp(cut, UTC).isoformat().replace("+00:00", "Z")
    r = runner.invoke(
        app, ["archive", "--before", before, "--out", str(tmp_path / "arch"), "--database-url", db]
    )
    assert r.exit_code == 0, r.output
    application = create_app(make_settings(tmp_path, database_url=db))
    with TestClient(application, base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {get_token(client)}"
        r = client.get(f"/footprints/{fp.id}/pack")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert r.content == out.read_bytes()  # archived since: read back from Parquet
        assert recompute(r.content).ok
    application.state.services.close()
    # the service reads one window at a time: a pack of more events in all than
    # max_history_events is sent when each window holds no more; a window past it is refused
    count = fp.lineage["events"]["count"]
    sizes = [w["count"] for w in fp.lineage["events"]["windows"]]
    assert count == sum(sizes) > max(sizes) > 0  # several windows, none empty
    spool = tmp_path / "tmp"  # the service's temporary files, this test's own
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    for limit, status in ((max(sizes), 200), (max(sizes) - 1, 413)):
        settings = make_settings(tmp_path, database_url=db, max_history_events=limit)
        application = create_app(settings)
        with TestClient(application, base_url="https://testserver") as client:
            client.headers["Authorization"] = f"Bearer {get_token(client)}"
            r = client.get(f"/footprints/{fp.id}/pack")
            assert r.status_code == status, r.text
            if status == 200:
                assert count > limit
                assert r.content == out.read_bytes()
                assert r.headers["content-disposition"] == (
                    f'attachment; filename="{fp.order}-v{fp.version}.zip"'
                )
            else:
                assert f"its largest window holds {max(sizes):,} events" in r.text
                assert f"carbontwin pack {fp.id} --out FILE" in r.text
        application.state.services.close()
    # nothing of the pack it sent is left in the temporary folder
    assert not list(spool.iterdir())


def test_a_footprint_issued_with_other_factors_than_the_stores_packs(tmp_path, signer):
    """Issued with one grid factor for every hour (``--grid-factor "0.35 kg/kWh"``), not
    the store's factors: the run keeps its factors under their digest, the pack carries
    them, and the pack recomputes. Without the kept copy the store's factors (another
    digest) would be all a pack could offer."""
    from carbontwin.twin.factors import ConstantFactor

    factory, planted = plant(0)
    store = Store.open(f"sqlite:///{tmp_path / 'g.db'}")
    store.save_factory(factory)
    store.write_events(EventBatch.from_events(planted))
    factors = FactorSet.for_factory(factory, grid_factor=ConstantFactor(0.35, "test"))
    run = issue_windows(store, signer, RULES, factors=factors, window="period")
    assert run.issued
    fp = run.issued[0]
    report = recompute(build_pack(store, fp.id))
    assert report.ok, [c for c in report.checks if not c.ok]
    kept = store.load_issuance_input(fp.lineage["factors"]["sha256"])
    assert "0.35" in json.dumps(kept)
    store.close()


def test_an_unreadable_parquet_window_is_a_failed_check_not_a_crash(tmp_path, signer):
    """A pack whose manifest agrees with its members, but a window member is not what
    ``events_to_parquet`` writes: junk, a table with a column no event has, a number
    column with a missing value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store, issued = _store(f"sqlite:///{tmp_path / 'x.db'}", 0, signer)
    fp = issued[0]
    files = _members(build_pack(store, fp.id))
    store.close()

    def parquet(table) -> bytes:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()

    bad = {
        "junk": b"PAR1 not a parquet file",
        "unknown column": parquet(pa.table({"power_t": [1.0], "power_phase": ["L1"]})),
        "missing number": parquet(
            pa.table(
                {"power_meter": ["M"], "power_t": pa.array([None], pa.float64()), "power_kw": [1.0]}
            )
        ),  # fmt: skip
    }
    for what, data in bad.items():
        changed = {**files, "windows/0000/power.parquet": data}
        manifest = json.loads(changed["manifest.json"])
        manifest["files"]["windows/0000/power.parquet"] = hashlib.sha256(data).hexdigest()
        changed["manifest.json"] = json.dumps(manifest, indent=1).encode()
        report = recompute(_zip(changed))
        assert not report.ok, what
        detail = {c.what: c.detail for c in report.checks if not c.ok}
        assert set(detail) == {"pack content"}, (what, detail)
        assert detail["pack content"].startswith("window 0 cannot be read"), (what, detail)
