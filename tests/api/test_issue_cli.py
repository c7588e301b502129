"""``carbontwin issue``: windowed issuing of the demo day equals attributing it whole."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app

FIGURES = ("energy_kwh", "co2e_kg", "scope1_kg", "scope2_location_kg", "scope3_kg")


@pytest.fixture(scope="module")
def demo_day():
    from carbontwin.api.demo import simulate_day

    return simulate_day(seed=3)


def _store(url, day):
    from carbontwin.twin.store import Store

    store = Store.open(url)
    store.save_factory(day.factory)
    store.save_orders(day.orders)
    store.write_events(day.events)
    return store


@pytest.mark.parametrize("window", ["period", "day"])
def test_issue_command_matches_the_whole_history(tmp_path, demo_day, window):
    from carbontwin.api.issuing import attribute_inputs, read_inputs

    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    whole = attribute_inputs(read_inputs(store)).footprints
    last = {}
    for o, e in zip(demo_day.events.step_order, demo_day.events.step_end, strict=True):
        last[str(o)] = max(last.get(str(o), 0.0), float(e))
    args = ["issue", "--database-url", url, "--key-path", str(tmp_path / "k.pem")]
    res = CliRunner().invoke(app, [*args, "--window", window, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    closed = store.attributed_windows()[-1].end
    done = {o for o, e in last.items() if e <= closed}
    # the demo day's windows close up to its last event: orders that ended are issued
    assert {x["order"] for x in out["issued"]} == done
    assert done, "no order of the demo day finished in a closed window"
    assert out["windows_attributed"] == len(store.attributed_windows()) >= 1
    for o in done:
        fp = store.latest_footprint(o)
        for f in FIGURES:
            assert getattr(fp, f) == pytest.approx(getattr(whole[o], f), rel=1e-9, abs=1e-9), (o, f)
        assert fp.lineage["events"]["windows"], "a windowed footprint names its windows"
    # nothing new: a second run attributes nothing and issues nothing
    again = json.loads(CliRunner().invoke(app, [*args, "--window", window, "--json"]).output)
    assert again["windows_attributed"] == 0
    assert again["footprints_issued"] == 0
    store.close()


def test_issue_in_two_stages_matches_the_whole_history(tmp_path, demo_day):
    """``--stage attribute`` stores windows and issues nothing; ``--stage issue`` then
    issues their orders, with the figures of attributing the whole history."""
    from carbontwin.api.issuing import attribute_inputs, read_inputs

    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    whole = attribute_inputs(read_inputs(store)).footprints
    args = ["issue", "--database-url", url, "--key-path", str(tmp_path / "k.pem"), "--json"]
    first = json.loads(CliRunner().invoke(app, [*args, "--stage", "attribute"]).output)
    assert first["windows_attributed"] >= 1
    assert first["footprints_issued"] == 0
    assert [w for w, _, _ in store.pending_windows()] == [
        w.start for w in store.attributed_windows()
    ]
    second = json.loads(CliRunner().invoke(app, [*args, "--stage", "issue"]).output)
    assert second["windows_attributed"] == 0
    assert second["footprints_issued"] >= 1
    assert store.pending_windows() == []
    for x in second["issued"]:
        fp = store.latest_footprint(x["order"])
        for f in FIGURES:
            want = getattr(whole[x["order"]], f)
            assert getattr(fp, f) == pytest.approx(want, rel=1e-9, abs=1e-9), (x["order"], f)
    bad = CliRunner().invoke(app, [*args, "--stage", "both"])
    assert bad.exit_code != 0
    assert "--stage 'both' is not one of all, attribute, issue" in bad.output
    store.close()


def test_issue_command_rejects_a_bad_until(tmp_path):
    res = CliRunner().invoke(
        app, ["issue", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--until", "yesterday"]
    )
    assert res.exit_code != 0
    assert "--until 'yesterday' is not an ISO 8601 time" in res.output


def test_archive_command_moves_attributed_events_to_parquet(tmp_path, demo_day):
    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    args = ["--database-url", url]
    assert (
        CliRunner().invoke(app, ["issue", *args, "--key-path", str(tmp_path / "k.pem")]).exit_code
        == 0
    )
    end = store.attributed_windows()[-1].end
    stored = store.count_events()["power_samples"]
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(end, UTC).isoformat()
    res = CliRunner().invoke(
        app, ["archive", *args, "--before", when, "--out", str(tmp_path / "a"), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    power = sum(f["rows"] for f in out["files"] if f["table"] == "power_samples")
    left = store.count_events()["power_samples"]
    assert power == int((demo_day.events.power_t < end).sum()) > 0
    assert left == stored - power
    too_late = CliRunner().invoke(
        app, ["archive", *args, "--before", "2100-01-01T00:00:00Z", "--out", str(tmp_path / "b")]
    )
    assert too_late.exit_code != 0  # main() prints a StoreError as one line, exit 1
    assert "run 'carbontwin issue' first" in str(too_late.exception)
    store.close()


def test_an_order_names_the_digest_of_the_pieces_it_was_issued_from(
    tmp_path, demo_day, signer, monkeypatch
):
    """Another process attributes a window again (another digest) after an issuing pass
    listed the windows and before it read their pieces: each footprint's lineage names
    the digest stored with the pieces it was made from, and the window stays pending,
    so the next pass goes through it again (and finds nothing new to issue)."""
    import sqlalchemy as sa

    from carbontwin.api.issuing import issue_windows
    from carbontwin.twin.store.models import WindowOrderRow

    store = _store(f"sqlite:///{tmp_path / 'ct.db'}", demo_day)
    issue_windows(store, signer, window="day", stage="attribute")
    listed = {w.start: w for w in store.attributed_windows()}
    assert listed
    again = "f" * 64
    done: set[float] = set()
    read = store.window_records

    def attribute_again(starts):
        wo = WindowOrderRow.__table__
        for s in starts:
            if s in done or s not in listed:
                continue
            done.add(s)
            saved, data = read([s])[s]
            with store.engine.connect() as conn:
                orders = conn.execute(
                    sa.select(wo.c.order_id, wo.c.last_end).where(wo.c.window_start == s)
                ).all()
            w = listed[s]
            store.save_window(
                type(w)(w.start, w.end, w.key, again, w.slice_count, w.span, saved.meta, w.reach),
                data,
                [(str(o), float(t)) for o, t in orders],
            )

    def wrapped(starts):
        starts = list(starts)
        attribute_again(starts)
        return read(starts)

    monkeypatch.setattr(store, "window_records", wrapped)
    run = issue_windows(store, signer, window="day", stage="issue")
    assert run.issued
    assert done
    for fp in run.issued:
        named = fp.lineage["events"]["windows"]
        assert named
        assert all(w["sha256"] == again for w in named if w["start"] in done), fp.order
    assert {s for s, _, _ in store.pending_windows()} == done
    monkeypatch.undo()
    assert issue_windows(store, signer, window="day", stage="issue").issued == ()
    assert store.pending_windows() == []
    store.close()


def test_withdraw_command_issues_a_deprecated_version_and_refuses_a_second(tmp_path, demo_day):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    key = ["--database-url", url, "--key-path", str(tmp_path / "k.pem")]
    issued = json.loads(CliRunner().invoke(app, ["issue", *key, "--json"]).output)["issued"]
    first = issued[0]
    res = CliRunner().invoke(
        app, ["withdraw", first["order"], "--reason", " order cancelled ", *key, "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["order"], out["version"], out["replaces"]) == (
        first["order"],
        first["version"] + 1,
        first["id"],
    )
    assert (out["status"], out["reason"]) == ("Deprecated", "order cancelled")
    w = store.latest_footprint(first["order"])
    assert (w.id, w.status, w.co2e_kg) == (out["id"], "Deprecated", first["co2e_kg"])
    assert w.flags[-1] == "withdrawn: order cancelled"
    checked = CliRunner().invoke(app, ["verify", first["order"], "--database-url", url])
    assert checked.exit_code == 0, checked.output
    assert f"(order {first['order']}, v{first['version'] + 1}), a withdrawal (order cancelled)" in (
        " ".join(checked.output.split())
    )
    # a second withdrawal, and one of an order never issued: exit 1, the reason on stderr
    cli = [sys.executable, "-m", "carbontwin.api.cli", "withdraw"]
    for order, said in (
        (first["order"], f"the footprint of order {first['order']!r} is already withdrawn"),
        ("NO-SUCH-ORDER", "order 'NO-SUCH-ORDER' has no issued footprint to withdraw"),
    ):
        p = subprocess.run(
            [*cli, order, "--reason", "again", *key],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert p.returncode == 1, p.stderr
        assert said in p.stderr
        assert "Traceback" not in p.stderr
    empty = CliRunner().invoke(app, ["withdraw", first["order"], "--reason", "  ", *key])
    assert empty.exit_code == 2
    assert "--reason is empty" in empty.output
    two = CliRunner().invoke(app, ["withdraw", first["order"], "--reason", "a\nb", *key])
    assert two.exit_code == 2
    assert "--reason must be one line" in " ".join(two.output.split())
    assert len(store.footprint_versions(first["order"])) == 2
    # --undo reinstates: a third version, Active, the first one's figures
    back = CliRunner().invoke(
        app, ["withdraw", first["order"], "--undo", "--reason", "by mistake", *key, "--json"]
    )
    assert back.exit_code == 0, back.output
    out = json.loads(back.output)
    assert (out["version"], out["status"], out["replaces"]) == (
        first["version"] + 2,
        "Active",
        w.id,
    )
    assert store.latest_footprint(first["order"]).co2e_kg == first["co2e_kg"]
    p = subprocess.run(
        [*cli, first["order"], "--undo", "--reason", "again", *key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 1
    assert f"the footprint of order {first['order']!r} is not withdrawn" in p.stderr
    store.close()


def test_withdraw_at_a_terminal_asks_first(tmp_path, demo_day):
    """At a terminal the command shows what it withdraws and asks; "n" leaves the store
    as it was, "y" withdraws (stdin is a pseudo-terminal here)."""
    import os
    import pty
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    key = ["--database-url", url, "--key-path", str(tmp_path / "k.pem")]
    issued = json.loads(CliRunner().invoke(app, ["issue", *key, "--json"]).output)["issued"]
    order = issued[0]["order"]
    cli = [sys.executable, "-m", "carbontwin.api.cli", "withdraw", order, "--reason", "typo"]
    for answer, code, versions in (("n", 1, 1), ("y", 0, 2)):
        leader, follower = pty.openpty()
        p = subprocess.Popen(
            [*cli, *key], stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        os.close(follower)
        os.write(leader, f"{answer}\n".encode())
        out, err = p.communicate(timeout=120)
        os.close(leader)
        assert p.returncode == code, err.decode()
        said = " ".join(out.decode().split())
        assert f"Withdraw the footprint of order '{order}' (version 1, " in said
        assert len(store.footprint_versions(order)) == versions
    store.close()


def test_a_set_aside_value_sent_as_a_correction_issues_a_new_version(tmp_path, demo_day):
    """A connector's value the store refused (another one stored under its key), sent
    as a correction with ``connect --correct-rejected``: the next ``issue`` attributes
    its window again; the order it changes gets a new version with the energy worked out
    by hand, the other orders of the window new versions of the same figures (their
    inputs, the window's events, changed)."""
    import numpy as np

    from carbontwin.connectors.spool import Flusher, Spool
    from carbontwin.twin.events import EventBatch

    url = f"sqlite:///{tmp_path / 'ct.db'}"
    store = _store(url, demo_day)
    args = ["issue", "--database-url", url, "--key-path", str(tmp_path / "k.pem"), "--json"]
    first = json.loads(CliRunner().invoke(app, args).output)
    assert "O-1001" in {x["order"] for x in first["issued"]}
    v1 = store.latest_footprint("O-1001")
    # laser-1 (its own meter M-laser) processes O-1001 alone from 05:10 UTC; the demo
    # line samples each meter once a minute: 28 kW at 05:11, held to 05:12
    ev = demo_day.events
    at = (ev.power_meter == "M-laser") & (ev.power_t == 1551676260.0)
    assert ev.power_kw[at].tolist() == [28.0]
    meter = np.empty(1, dtype=object)
    meter[:] = ["M-laser"]
    spool = Spool(tmp_path / "spool.db")
    spool.put(
        EventBatch(power_meter=meter, power_t=np.array([1551676260.0]), power_kw=np.array([56.0]))
    )
    Flusher(spool, store.write_events).flush_all()
    assert len(spool.rejected()) == 1  # another value under a stored key
    spool.close()
    config = tmp_path / "line.json"
    config.write_text(
        json.dumps(
            {
                "endpoint": "opc.tcp://127.0.0.1:1/",
                "spool": {"path": str(tmp_path / "spool.db")},
                "store": {"url": url},
                "signals": [{"kind": "power", "meter": "M-laser", "node": "i=2258", "unit": "kW"}],
            }
        )
    )
    sent = CliRunner().invoke(app, ["connect", str(config), "--correct-rejected", "--json"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["corrected"] == 1
    second = json.loads(CliRunner().invoke(app, args).output)
    assert second["windows_attributed"] >= 1
    again = {x["order"] for x in second["issued"]}
    assert "O-1001" in again
    v2 = store.latest_footprint("O-1001")
    assert (v1.version, v2.version) == (1, 2)
    # 28 kW more for 60 s, all of it O-1001's: 28 x 60 / 3600 kWh
    assert v2.energy_kwh - v1.energy_kwh == pytest.approx(28.0 * 60.0 / 3600.0, rel=1e-9)
    # the other orders of that window: the same figures, computed from its new events
    for o in again - {"O-1001"}:
        old, new = store.footprint_versions(o)
        for f in FIGURES:
            assert getattr(new, f) == getattr(old, f), (o, f)
        assert new.lineage["input_sha256"] != old.lineage["input_sha256"]
    store.close()
