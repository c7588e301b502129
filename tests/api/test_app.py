"""The app factory: mountable in a host app, token on every route but the public ones."""

from __future__ import annotations

import pytest
from api_helpers import CLIENT_ID, CLIENT_SECRET, get_token, make_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.api.deps import check_token, issue_token

PUBLIC = {
    "/health",
    "/auth/token",
    "/.well-known/carbontwin-signing-key",
    "/.well-known/carbontwin-signing-key.pem",
    "/.well-known/openid-configuration",
    "/public/footprints/{footprint_id}",  # published footprints (404 for others)
    "/public/footprints/{footprint_id}.json",
    "/plugin/manifest",  # a host platform reads it before it has credentials
}


def test_create_app_does_no_io(tmp_path):
    create_app(make_settings(tmp_path))
    assert list(tmp_path.iterdir()) == []  # no database file, no key until first use


def test_mounted_under_carbon_serves_the_same_routes(tmp_path):
    host = FastAPI()

    @host.get("/")
    def root() -> dict[str, str]:
        return {"host": "platform"}

    host.mount("/carbon", create_app(make_settings(tmp_path)))
    with TestClient(host, base_url="https://platform.example") as client:
        assert client.get("/").json() == {"host": "platform"}
        assert client.get("/carbon/health").json()["status"] == "ok"
        token = get_token_at(client, "/carbon/auth/token")
        headers = {"Authorization": f"Bearer {token}"}
        manifest = client.get("/carbon/plugin/manifest", headers=headers).json()
        paths = {r["path"] for r in manifest["routes"]}
        assert {
            "/carbon/3/footprints",
            "/carbon/2/footprints",
            "/carbon/factory",
            "/carbon/events",
            "/carbon/orders/{order_id}/footprint",
            "/carbon/simulations",
            "/carbon/labels/{order_id}",
        } <= paths
        assert manifest["signing_key_url"] == "/carbon/.well-known/carbontwin-signing-key"
        assert client.get("/carbon/3/footprints", headers=headers).json() == {"data": []}
        assert client.get("/carbon/orders", headers=headers).json() == []
        key = client.get("/carbon/.well-known/carbontwin-signing-key").json()
        assert key["alg"] == "Ed25519"
        oidc = client.get("/carbon/.well-known/openid-configuration").json()
        assert oidc["token_endpoint"] == "https://platform.example/carbon/auth/token"
        assert client.get("/carbon/openapi.json").status_code == 200


def get_token_at(client: TestClient, path: str) -> str:
    r = client.post(
        path,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops]


def test_every_route_but_the_public_ones_needs_a_token(tmp_path):
    app = create_app(make_settings(tmp_path))
    routes = _routes(app)
    assert len(routes) >= 20
    with TestClient(app, base_url="https://testserver") as client:
        for method, path in routes:
            url = (
                path.replace("{order_id}", "O-1")
                .replace("{footprint_id}", "x")
                .replace("{job_id}", "j")
            )
            r = client.request(method, url, headers={"Authorization": "Bearer forged.token"})
            if path in PUBLIC:
                assert r.status_code not in (401, 403), (method, path)
            else:
                assert r.status_code == 401, (method, path, r.status_code)


def test_tokens_expire_and_cannot_be_forged(tmp_path):
    settings = make_settings(tmp_path)
    token = issue_token(settings, "me", now=1000.0)
    assert check_token(settings, token, now=1000.0 + 3599) == "me"
    assert check_token(settings, token, now=1000.0 + 3601) is None
    body, _, mac = token.partition(".")
    assert check_token(settings, body + "." + mac[::-1], now=1000.0) is None
    other = make_settings(tmp_path, token_secret="another-secret")
    assert check_token(other, token, now=1000.0) is None


def test_token_route_errors(tmp_path):
    app = create_app(make_settings(tmp_path))
    with TestClient(app, base_url="https://testserver") as client:
        r = client.post("/auth/token", data={"grant_type": "password"})
        assert r.status_code == 400
        assert r.json()["error"] == "unsupported_grant_type"
        r = client.post(
            "/auth/token",
            content=b"\xff\xfe",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 400


def test_manifest(tmp_path):
    app = create_app(make_settings(tmp_path, token_secret="token-secret-789"))
    with TestClient(app, base_url="https://testserver") as client:
        r = client.get("/plugin/manifest")  # public: no token
    assert r.status_code == 200
    # the settings' schema, never their values
    assert CLIENT_SECRET not in r.text
    assert "token-secret-789" not in r.text
    m = r.json()
    assert m["name"] == "carbontwin"
    assert m["version"]
    assert "database_url" in m["config_schema"]["properties"]
    assert {p["name"] for p in m["required_permissions"]} >= {"database", "network.outbound"}
    assert any(p["name"] == "pact-v3" for p in m["plugins"])
    by_op = {r["operation_id"]: r for r in m["routes"]}
    assert by_op["health"]["auth"] is False
    assert by_op["pact3_list_footprints"]["auth"] is True


def test_health_reports_the_store(tmp_path):
    app = create_app(make_settings(tmp_path))
    with TestClient(app, base_url="https://testserver") as client:
        body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["store"] == "ok"


@pytest.mark.parametrize(
    "path", ["/footprints/not-a-uuid", "/orders/missing", "/simulations/missing"]
)
def test_not_found_names_the_field(tmp_path, path):
    app = create_app(make_settings(tmp_path))
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {get_token(client)}"}
        r = client.get(path, headers=headers)
    assert r.status_code == 404
    assert r.json()["detail"][0]["loc"] in (["id"], ["order"], ["job_id"])
