"""Append-only footprints: triggers refuse changes; the issuance log and the stored
signatures show what was changed behind the triggers' back (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_store_records import footprint

from carbontwin.plugins.signing import verify_document, verify_pem
from carbontwin.twin.footprint import DEPRECATED, Footprint
from carbontwin.twin.store import Store
from carbontwin.twin.store.models import FootprintRow


def _drop_guards(store: Store) -> None:
    """What an intruder with database rights does first: drop every append-only trigger."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            names = conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(names):
                conn.execute(sa.text(f"DROP TRIGGER {name}"))
        else:
            rows = conn.execute(
                sa.text(
                    "SELECT tgname, relname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid "
                    "WHERE NOT tgisinternal AND relnamespace = to_regnamespace(current_schema())"
                )
            ).all()
            for name, table in rows:
                conn.execute(sa.text(f'DROP TRIGGER "{name}" ON "{table}"'))


def _issue_three(store: Store, signer) -> list[Footprint]:
    return [
        store.issue_footprint(footprint("A", 10.0), signer),
        store.issue_footprint(footprint("B", 1549.0), signer),
        store.issue_footprint(footprint("A", 11.0), signer),
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE footprints SET co2e_kg = 1.0",
        "DELETE FROM footprints",
        "DELETE FROM footprints WHERE version = 2",
        "UPDATE issuance_log SET version = 9",
        "DELETE FROM issuance_log",
        "DELETE FROM signing_keys",
        "TRUNCATE footprints CASCADE",  # CASCADE: past the foreign keys, to the trigger
        "TRUNCATE issuance_log",
    ],
)
def test_issued_footprints_cannot_be_changed_or_removed(store: Store, signer, statement):
    if statement.startswith("TRUNCATE") and store.engine.dialect.name == "sqlite":
        # SQLite's truncate
        statement = statement.replace("TRUNCATE", "DELETE FROM").replace(" CASCADE", "")
    issued = _issue_three(store, signer)
    with (
        pytest.raises(sa.exc.DatabaseError, match="refused|immutable"),
        store.engine.begin() as conn,
    ):
        conn.execute(sa.text(statement))
    assert [fp.id for fp in store.list_footprints()] == [fp.id for fp in issued]
    assert store.audit(verify_pem).ok


def test_a_clean_log_audits_ok_and_signatures_are_stored(store: Store, signer):
    issued = _issue_three(store, signer)
    report = store.audit(verify_pem)
    assert (report.ok, report.entries, report.footprints) == (True, 3, 3)
    for fp in issued:
        stored = store.stored_footprint(fp.id)
        assert stored.problems == ()
        assert stored.document["payload"] == fp.to_dict()
        assert verify_document(stored.document, signer.key).valid
        assert stored.public_key_pem == signer.public_key_pem


def test_a_row_rewritten_behind_the_triggers_is_found(store: Store, signer):
    """The issue's scenario: 1,549 kg rewritten to 1.0 kg, in the column and the payload."""
    issued = _issue_three(store, signer)
    b = issued[1]
    _drop_guards(store)
    forged = {**b.to_dict(), "co2e_kg": 1.0}
    table = FootprintRow.__table__
    with store.engine.begin() as conn:
        done = conn.execute(
            sa.update(table).where(table.c.id == b.id).values(co2e_kg=1.0, payload=forged)
        )
        assert done.rowcount == 1
    report = store.audit(verify_pem)
    assert not report.ok
    text = "\n".join(report.problems)
    assert f"entry 2 (footprint {b.id}" in text
    assert "differs from the one issued" in text
    assert "signature.sha256 does not match the payload" in text
    assert issued[0].id not in text
    assert issued[2].id not in text
    stored = store.stored_footprint(b.id)
    assert any("differs from the one logged" in p for p in stored.problems)
    assert not verify_document(stored.document, signer.key).valid


def test_a_row_deleted_and_reinserted_is_found(store: Store, signer):
    """Deleted with its log entry, re-inserted with 1.0 kg and the old signature."""
    issued = _issue_three(store, signer)
    b = issued[1]
    _drop_guards(store)
    with store.engine.begin() as conn:
        row = dict(
            conn.execute(sa.text("SELECT * FROM footprints WHERE order_id = 'B'")).mappings().one()
        )
        conn.execute(sa.text("DELETE FROM footprints WHERE order_id = 'B'"))
        conn.execute(sa.text("DELETE FROM issuance_log WHERE seq = 2"))
    forged = {**b.to_dict(), "co2e_kg": 1.0}
    table = FootprintRow.__table__
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(table).values(
                {
                    **{c.name: row[c.name] for c in table.columns if c.name in row},
                    "id": b.id,
                    "issued_at": b.issued_at,
                    "period_start": b.period_start,
                    "period_end": b.period_end,
                    "co2e_kg": 1.0,
                    "payload": forged,
                    "signature": store.stored_footprint(issued[0].id).document["signature"],
                }
            )
        )
    report = store.audit(verify_pem)
    text = "\n".join(report.problems)
    assert "issuance log entry 2 is missing (removed)" in text
    assert "entry 3 (footprint" in text
    assert "does not follow the entry before it" in text
    assert f"footprint {b.id} (order 'B', version 1) is not in the issuance log" in text
    assert "signature.sha256 does not match the payload" in text
    assert not verify_document(store.stored_footprint(b.id).document, signer.key).valid


def test_removed_changed_and_reordered_log_entries_are_named(store: Store, signer):
    _issue_three(store, signer)
    store.issue_footprint(footprint("C", 5.0), signer)
    _drop_guards(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE issuance_log SET version = 7 WHERE seq = 1"))
        # swap entries 3 and 4
        conn.execute(sa.text("UPDATE issuance_log SET seq = 100 WHERE seq = 3"))
        conn.execute(sa.text("UPDATE issuance_log SET seq = 3 WHERE seq = 4"))
        conn.execute(sa.text("UPDATE issuance_log SET seq = 4 WHERE seq = 100"))
    problems = store.audit(verify_pem).problems
    text = "\n".join(problems)
    assert "issuance log entry 1" in text
    assert "was changed" in text
    assert "entry 3 (footprint" in text
    assert "does not follow" in text
    assert "entry 4 (footprint" in text


def test_a_footprint_inserted_around_issuing_is_not_in_the_log(store: Store, signer):
    _issue_three(store, signer)
    extra = footprint("Z", 2.0)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO footprints (tenant, id, order_id, version, issued_at, product, "
                "factory, co2e_kg, period_start, period_end, payload) VALUES ('default', :id, "
                "'Z', 1, :t, "
                "'bracket', 'demo', 2.0, :t, :t, :p)"
            ).bindparams(sa.bindparam("p", type_=sa.JSON())),
            {"id": extra.id, "t": extra.period_start, "p": extra.to_dict()},
        )
    text = "\n".join(store.audit(verify_pem).problems)
    assert f"footprint {extra.id} (order 'Z', version 1) is not in the issuance log" in text
    assert "no signature stored" in text


def test_a_correction_round_trips_with_its_signature(store: Store, signer):
    v1 = store.issue_footprint(footprint("A", 10.0), signer)
    v2 = store.issue_footprint(v1.successor(footprint("A", 10.5)), signer)
    back = store.footprint_versions("A")
    assert back == [v1, v2]
    assert (back[1].version, back[1].replaces, back[1].co2e_kg) == (2, v1.id, 10.5)
    doc = store.stored_footprint(v2.id).document
    assert doc["payload"]["replaces"] == v1.id
    assert verify_document(doc, signer.key).valid


def test_withdrawal_is_a_new_deprecated_version(store: Store, signer):
    v1 = store.issue_footprint(footprint("A", 10.0), signer)
    w = store.withdraw_footprint("A", signer, "order cancelled")
    assert (w.version, w.replaces, w.status, w.co2e_kg) == (2, v1.id, DEPRECATED, 10.0)
    assert "withdrawn: order cancelled" in w.flags
    assert store.get_footprint(v1.id) == v1
    assert store.latest_footprint("A") == w
    assert store.audit(verify_pem).ok


def test_reinstatement_is_the_next_version_active_with_the_withdrawn_figures(store: Store, signer):
    from dataclasses import replace

    from carbontwin.twin.errors import StoreError

    store.issue_footprint(replace(footprint("A", 10.0), flags=("gap filled",)), signer)
    with pytest.raises(StoreError, match="order 'A' is not withdrawn .version 1 is Active."):
        store.reinstate_footprint("A", signer, "nothing to undo")
    w = store.withdraw_footprint("A", signer, "order cancelled")
    r = store.reinstate_footprint("A", signer, "cancellation reversed")
    assert (r.version, r.replaces, r.status, r.co2e_kg) == (3, w.id, "Active", 10.0)
    assert r.flags == ("gap filled",)  # v1's flags, without the withdrawal's
    assert r.lineage["reinstated"] == "cancellation reversed"
    assert [v.status for v in store.footprint_versions("A")] == ["Active", DEPRECATED, "Active"]
    assert store.get_footprint(w.id) == w  # the withdrawal stays on record
    assert store.audit(verify_pem).ok


def test_a_batch_logs_each_signed_document_and_chains_it(store: Store, signer):
    """Store.issue_footprints (one transaction, the log head carried along) writes the
    same chain as one footprint at a time: each entry's document digest is the SHA-256
    of the RFC 8785 JSON of the stored signed document, each entry names the one before."""
    import hashlib

    from carbontwin.twin.footprint import canonical_json
    from carbontwin.twin.store._footprints import GENESIS, entry_hash
    from carbontwin.twin.store.models import IssuanceLogRow

    one = store.issue_footprint(footprint("A", 10.0), signer)
    batch = store.issue_footprints([footprint("B", 2.0), footprint("C", 3.0)], signer)
    with store.engine.connect() as conn:
        log = conn.execute(sa.select(IssuanceLogRow).order_by(IssuanceLogRow.seq)).all()
    assert [r.footprint_id for r in log] == [one.id, *(fp.id for fp in batch)]
    prev = GENESIS
    for r in log:
        doc = store.stored_footprint(r.footprint_id).document
        assert verify_pem(doc, signer.public_key_pem)[0]
        assert r.document_sha256 == hashlib.sha256(canonical_json(doc)).hexdigest()
        assert r.prev_sha256 == prev
        prev = entry_hash(r.seq, r.footprint_id, r.order_id, r.version, r.document_sha256, prev)
        assert r.entry_sha256 == prev
    assert store.audit().ok


@pytest.mark.parametrize(
    "order",
    [
        "O-1",
        "Auftrag Größe 3",
        'quote " and \\ backslash',
        "tab\tline\nend\x01\x7f",
        "emoji 😀",
        "\u2028",
    ],
)
def test_log_entry_hash_is_sha256_of_the_rfc8785_entry(order):
    """The issuance log's entry hash against the ``rfc8785`` package over the same six
    members (a verifier outside carbontwin computes it so)."""
    import hashlib

    import rfc8785

    from carbontwin.twin.store._footprints import GENESIS, entry_hash

    fid, doc = "0b7f5c7e-9a49-4a52-8f0f-3d1f4b2a6c11", "ab" * 32
    for seq, version, prev in ((1, 1, GENESIS), (2**40, 7, "cd" * 32)):
        want = hashlib.sha256(
            rfc8785.dumps(
                {
                    "seq": seq,
                    "footprint_id": fid,
                    "order_id": order,
                    "version": version,
                    "document_sha256": doc,
                    "prev_sha256": prev,
                }
            )
        ).hexdigest()
        assert entry_hash(seq, fid, order, version, doc, prev) == want
