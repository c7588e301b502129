"""Tenants and clients from the command line; stored clients at POST /auth/token (argon2)."""

from __future__ import annotations

import json
import logging

from api_helpers import make_settings
from fastapi.testclient import TestClient
from test_cli_errors import run_cli as cli

from carbontwin.api import create_app
from carbontwin.twin.store import Store


def token(client: TestClient, cid: str, secret: str, **extra: str):
    return client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": secret,
            **extra,
        },
    )


def test_cli_adds_tenants_and_clients_and_the_secret_is_shown_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    db = ["--database-url", url]
    assert cli("tenants", "add", "plant-a", *db, cwd=tmp_path).returncode == 0
    bad = cli("tenants", "add", "Plant A", *db, cwd=tmp_path)
    assert bad.returncode == 1
    assert "tenant name 'Plant A' is not valid" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    listed = cli("tenants", "list", *db, cwd=tmp_path)
    assert "plant-a" in listed.stdout
    assert "default" in listed.stdout
    added = cli(
        "clients",
        "add",
        "--tenant",
        "plant-a",
        "--scopes",
        "read,write",
        "--json",
        *db,
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert doc["tenant"] == "plant-a"
    assert doc["scopes"] == ["read", "write"]
    secret = doc["client_secret"]
    assert len(secret) >= 40
    # the store holds an argon2id hash of it, never the secret
    stored = Store(url).admin.client(doc["client_id"])
    assert stored.secret_hash.startswith("$argon2id$")
    assert secret not in stored.secret_hash
    raw = (tmp_path / "twin.db").read_bytes()
    assert secret.encode() not in raw
    # never printed again: not by list, not by a second listing of tenants
    listing = cli("clients", "list", *db, cwd=tmp_path)
    assert doc["client_id"] in listing.stdout
    assert secret not in listing.stdout + listing.stderr
    # the plain form prints id and secret on stdout, one line each
    plain = cli("clients", "add", "--tenant", "plant-a", *db, cwd=tmp_path)
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("client_id: ct_")
    assert lines[1].startswith("client_secret: ")
    assert "shown this once" in plain.stderr
    unknown = cli("clients", "add", "--tenant", "nope", *db, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "no tenant 'nope'" in unknown.stderr + unknown.stdout
    gone = cli("clients", "remove", doc["client_id"], *db, cwd=tmp_path)
    assert gone.returncode == 0
    assert Store(url).admin.client(doc["client_id"]) is None


def test_a_stored_client_gets_a_token_of_its_tenant_and_scopes(tmp_path, caplog):
    from carbontwin.api.clients import create_client

    settings = make_settings(tmp_path)
    app = create_app(settings)
    store = app.state.services.store
    store.admin.add_tenant("plant-a")
    cid, secret = create_client(store, "plant-a", ("read",))
    caplog.set_level(logging.DEBUG)
    with TestClient(app, base_url="https://testserver") as client:
        r = token(client, cid, secret)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "read"
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get("/orders", headers=h).status_code == 200
        assert client.put("/orders", headers=h, json=[]).status_code == 403
        # more scopes than the client has are refused
        assert token(client, cid, secret, scope="read write").json()["error"] == "invalid_scope"
        # a wrong secret, an unknown id: the same 401
        for c, s in ((cid, secret + "x"), ("ct_unknown", secret), (cid, "")):
            r = token(client, c, s)
            assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
        # removing the client ends its tokens at once
        store.admin.remove_client(cid)
        assert client.get("/orders", headers=h).status_code == 401
    assert secret not in caplog.text


def test_admin_routes_manage_only_the_tokens_tenant(tmp_path):
    from carbontwin.api.clients import create_client

    app = create_app(make_settings(tmp_path))
    store = app.state.services.store
    store.admin.add_tenant("plant-a")
    store.admin.add_tenant("plant-b")
    a_admin, a_secret = create_client(store, "plant-a", ("read", "admin"))
    b_client, _ = create_client(store, "plant-b", ("read",))
    with TestClient(app, base_url="https://testserver") as client:
        h = {"Authorization": f"Bearer {token(client, a_admin, a_secret).json()['access_token']}"}
        r = client.post("/admin/clients", headers=h, json={"scopes": ["read"]})
        assert r.status_code == 201
        new = r.json()
        assert new["tenant"] == "plant-a"
        # the new secret works once shown
        assert token(client, new["client_id"], new["client_secret"]).status_code == 200
        listed = client.get("/admin/clients", headers=h).json()
        assert sorted(c["client_id"] for c in listed) == sorted([a_admin, new["client_id"]])
        assert "client_secret" not in json.dumps(listed)
        # B's client cannot be seen or removed from A
        assert client.delete(f"/admin/clients/{b_client}", headers=h).status_code == 404
        assert store.admin.client(b_client) is not None
        assert client.delete(f"/admin/clients/{new['client_id']}", headers=h).status_code == 204
