"""Ed25519 signatures over canonical JSON: any changed byte fails verification."""

from __future__ import annotations

import json
import stat

import pytest

from carbontwin.plugins.signing import (
    key_id,
    load_or_create_key,
    load_public_key,
    public_key_pem,
    sign_document,
    verify_document,
)
from carbontwin.twin.errors import PluginError

PAYLOAD = {
    "order": "O-1001",
    "co2e_kg": 123.456,
    "scopes": {"1": 5.0, "2": 60.0, "3": 58.456},
    "product": "Stahlwinkel ä",
}


def test_key_is_created_once_and_private(tmp_path):
    path = tmp_path / "keys" / "signing.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_key(path)
    assert key_id(again) == key_id(key)
    assert len(key_id(key)) == 16


def test_round_trip_and_public_key_from_pem(tmp_path):
    key = load_or_create_key(tmp_path / "k.pem")
    doc = sign_document(PAYLOAD, key)
    pub = load_public_key(public_key_pem(key))
    result = verify_document(json.dumps(doc), pub)
    assert result.valid, result.reason
    assert result.key_id == key_id(key)
    # deterministic: the same payload gives the same signature
    assert sign_document(dict(reversed(list(PAYLOAD.items()))), key) == doc


def test_every_changed_byte_of_the_file_is_detected(tmp_path):
    key = load_or_create_key(tmp_path / "k.pem")
    text = json.dumps(sign_document(PAYLOAD, key), sort_keys=True).encode()
    assert verify_document(text, key).valid
    changed_valid = 0
    for i in range(len(text)):
        for delta in (1, 2):
            altered = bytearray(text)
            altered[i] = (altered[i] + delta) % 256
            result = verify_document(bytes(altered), key)
            changed_valid += result.valid
    # a changed byte either breaks the JSON, the payload or the signature; never valid
    assert changed_valid == 0


def test_altered_value_reports_why(tmp_path):
    key = load_or_create_key(tmp_path / "k.pem")
    doc = sign_document(PAYLOAD, key)
    doc["payload"]["co2e_kg"] = 1.0
    result = verify_document(doc, key)
    assert not result.valid
    assert "altered" in result.reason


def test_other_key_is_refused(tmp_path):
    doc = sign_document(PAYLOAD, load_or_create_key(tmp_path / "a.pem"))
    other = load_or_create_key(tmp_path / "b.pem")
    result = verify_document(doc, other)
    assert not result.valid
    assert "key" in result.reason


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"payload": 1},
        {"payload": {}, "signature": {}},
        {"payload": {}, "signature": {"value": "@@@"}},
        b"\xff",
    ],
)
def test_malformed_documents_are_invalid_not_errors(tmp_path, doc):
    assert not verify_document(doc, load_or_create_key(tmp_path / "k.pem")).valid


def test_bad_key_file_names_the_setting(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(PluginError) as err:
        load_or_create_key(bad)
    assert err.value.field == "key_path"


def _public_pem_of(path: str) -> str:
    from carbontwin.plugins.signing import public_key_pem

    return public_key_pem(load_or_create_key(path))


def test_processes_creating_one_key_at_once_all_get_the_same_key(tmp_path):
    # serve --workers N: every worker asks for the key file; one key must win
    import multiprocessing

    path = str(tmp_path / "keys" / "k.pem")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pems = pool.map(_public_pem_of, [path] * 16)
    assert len(set(pems)) == 1
    assert pems[0] == _public_pem_of(path)
    assert [f.name for f in (tmp_path / "keys").iterdir()] == ["k.pem"]  # no temp files left
