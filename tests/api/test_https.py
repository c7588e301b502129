"""Plain HTTP on the PACT routes, development mode, and forwarded headers from proxies."""

from __future__ import annotations

import base64

import pytest
from api_helpers import CLIENT_ID, CLIENT_SECRET, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.api.deps import BoundedLog

BASIC = {
    "Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
}
FORM = {"grant_type": "client_credentials"}


def _token_status(settings, base_url: str, peer: str, headers: dict | None = None) -> int:
    app = create_app(settings)
    with TestClient(app, base_url=base_url, client=(peer, 40000)) as client:
        r = client.post("/auth/token", data=FORM, headers={**BASIC, **(headers or {})})
    app.state.services.close()
    return r.status_code


@pytest.mark.parametrize(
    ("require_https", "peer", "expected"),
    [
        (True, "127.0.0.1", 403),  # default: plain HTTP refused even from loopback
        (False, "127.0.0.1", 200),  # development mode, loopback peer
        (False, "::1", 200),
        (False, "192.0.2.7", 403),  # development mode, but a remote peer
    ],
)
def test_plain_http_only_on_loopback_in_development_mode(tmp_path, require_https, peer, expected):
    settings = make_settings(tmp_path, require_https=require_https)
    assert _token_status(settings, "http://testserver", peer) == expected


@pytest.mark.parametrize(
    ("trusted", "peer", "expected"),
    [
        ([], "127.0.0.1", 403),  # no trusted proxy: the header is ignored
        (["10.0.0.0/8"], "192.0.2.7", 403),  # header from an untrusted peer
        (["10.0.0.0/8"], "10.1.2.3", 200),  # from a trusted proxy
        (["10.1.2.3"], "10.1.2.3", 200),
    ],
)
def test_forwarded_proto_only_from_trusted_proxies(tmp_path, trusted, peer, expected):
    settings = make_settings(tmp_path, trusted_proxies=trusted)
    status = _token_status(settings, "http://testserver", peer, {"X-Forwarded-Proto": "https"})
    assert status == expected


def test_bounded_log_keeps_newest_and_drops_old():
    log = BoundedLog(max_items=3, max_age_s=60.0)
    for i in range(5):
        log.append({"n": i}, now=1000.0 + i)
    assert [r["n"] for r in log.items(now=1004.0)] == [2, 3, 4]
    assert [r["n"] for r in log.items(now=1063.5)] == [4]  # 2 and 3 are older than 60 s
    assert log.items(now=2000.0) == []
