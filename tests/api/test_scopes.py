"""Scopes on every route: read for reading, write for changing data, admin for clients.

The routes come from the app itself (``app.routes``), so a route added later is
walked too; the public ones and the POST routes that change nothing are explicit
lists here, each with its reason.
"""

from __future__ import annotations

import uuid

import pytest
from api_helpers import CLIENT_ID, CLIENT_SECRET, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.api.deps import issue_token

#: Answer without a token (public by design).
PUBLIC = {
    ("GET", "/"),
    ("GET", "/docs"),
    ("GET", "/docs/"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    ("GET", "/health"),
    ("POST", "/auth/token"),
    ("GET", "/.well-known/carbontwin-signing-key"),
    ("GET", "/.well-known/carbontwin-signing-key.pem"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/public/footprints/{footprint_id}"),
    ("GET", "/public/footprints/{footprint_id}.json"),
    ("GET", "/plugin/manifest"),
}

#: POST routes that store nothing: they need read, not write.
READING_POSTS = {
    "/footprints/verify": "checks a signed document against the tenant's key",
    "/schedules/compare": "simulates schedules and answers; stores nothing",
    "/2/events": "PACT: a partner asks for footprints (an Action Event), reading",
    "/3/events": "PACT: a partner asks for footprints (an Action Event), reading",
    "/2/footprints": "PACT: ListFootprints is GET; a POST is answered 400",
}

#: Client administration.
ADMIN_PREFIX = "/admin/"


def routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app answers (included routers walked), mounts
    (the static files) aside."""
    out: set[tuple[str, str]] = set()
    for r in app.routes:
        contexts = getattr(r, "effective_route_contexts", None)  # FastAPI's included router
        items = list(contexts()) if contexts is not None else [r]
        for item in items:
            methods = getattr(item, "methods", None)
            if methods:
                out |= {(m, item.path) for m in methods if m != "HEAD"}
    return sorted(out)


def needed(method: str, path: str) -> str:
    """The scope a route must need, from what it does."""
    if path.startswith(ADMIN_PREFIX):
        return "admin"
    if method == "GET" or path in READING_POSTS:
        return "read"
    return "write"


def url_of(path: str) -> str:
    return (
        path.replace("{order_id}", "O-1")
        .replace("{footprint_id}", str(uuid.uuid4()))
        .replace("{job_id}", "j")
        .replace("{by}", "machine")
        .replace("{client_id}", "ct_missing")
        .replace("{name}", "DE")
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(make_settings(tmp_path_factory.mktemp("scopes")))


def test_the_walk_sees_every_kind_of_route(app):
    walked = routes(app)
    kinds = {needed(m, p) for m, p in walked if (m, p) not in PUBLIC}
    assert kinds == {"read", "write", "admin"}
    assert len(walked) >= 40
    # the lists name routes that exist (a renamed route must be renamed here too)
    paths = {p for _, p in walked}
    assert set(READING_POSTS) <= paths
    assert {p for _, p in PUBLIC} <= paths


@pytest.mark.parametrize(
    "scopes", [("read",), ("write",), ("admin",), ("read", "write"), ("read", "write", "admin")]
)
def test_every_route_needs_its_scope(app, scopes):
    settings = app.state.services.settings
    token = issue_token(settings, CLIENT_ID, scopes=scopes)
    headers = {"Authorization": f"Bearer {token}"}
    checked = {"read": 0, "write": 0, "admin": 0}
    with TestClient(app, base_url="https://testserver") as client:
        for method, path in routes(app):
            if (method, path) in PUBLIC:
                r = client.request(method, url_of(path))
                assert r.status_code not in (401, 403), (method, path, r.status_code)
                continue
            scope = needed(method, path)
            r = client.request(method, url_of(path), headers=headers)
            if scope in scopes:
                assert r.status_code not in (401, 403), (method, path, scopes, r.text)
            else:
                assert r.status_code == 403, (method, path, scopes, r.status_code, r.text)
            checked[scope] += 1
            # without any token: 401 everywhere
            assert client.request(method, url_of(path)).status_code == 401, (method, path)
    assert min(checked.values()) >= 3, checked


def test_a_read_only_token_is_refused_on_every_writing_route(app):
    """The issue's case on its own: read scope, every route that changes data is a 403."""
    token = issue_token(app.state.services.settings, CLIENT_ID, scopes=("read",))
    headers = {"Authorization": f"Bearer {token}"}
    writing = [(m, p) for m, p in routes(app) if (m, p) not in PUBLIC and needed(m, p) != "read"]
    assert ("PUT", "/factory") in writing
    assert ("POST", "/events") in writing
    with TestClient(app, base_url="https://testserver") as client:
        for method, path in writing:
            r = client.request(method, url_of(path), headers=headers, json={})
            assert r.status_code == 403, (method, path, r.status_code)
            body = r.json()
            text = body.get("message") or body["detail"][0]["msg"]
            assert "scope" in text


def test_token_scope_request_narrows_and_never_widens(tmp_path):
    app = create_app(make_settings(tmp_path))
    with TestClient(app, base_url="https://testserver") as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        r = client.post("/auth/token", data=form)
        assert r.json()["scope"] == "read write admin"  # the settings' client: every scope
        r = client.post("/auth/token", data={**form, "scope": "read"})
        token = r.json()["access_token"]
        assert r.json()["scope"] == "read"
        h = {"Authorization": f"Bearer {token}"}
        assert client.get("/orders", headers=h).status_code == 200
        assert client.put("/orders", headers=h, json=[]).status_code == 403
        # PACT clients ask for footprint:list footprint:read: that is reading
        r = client.post("/auth/token", data={**form, "scope": "footprint:list footprint:read"})
        assert r.json()["scope"] == "read"
        r = client.post("/auth/token", data={**form, "scope": "read root"})
        assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
