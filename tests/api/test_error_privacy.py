"""Error answers never reveal the database URL, its host, user, file path or SQL."""

from __future__ import annotations

import socket

import pytest
from api_helpers import get_token, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again once the socket is


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        (
            "postgresql+psycopg://plantuser:hunter2@127.0.0.1:{port}/plantdb",
            ("plantuser", "hunter2", "plantdb", "127.0.0.1", "{port}", "postgresql"),
        ),
        (
            "sqlite:///{tmp}/no-such-folder/private-plant.db",
            ("private-plant", "no-such-folder", "{tmp}", "sqlite"),
        ),
    ],
)
def test_store_errors_name_no_url_host_user_or_path(tmp_path, url, secrets):
    pytest.importorskip("psycopg")
    port = _closed_port()
    url = url.format(port=port, tmp=tmp_path)
    secrets = [s.format(port=port, tmp=tmp_path) for s in secrets]
    app = create_app(make_settings(tmp_path, database_url=url))
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {get_token(client)}"}
        for path in ("/footprints", "/orders", "/factory"):
            r = client.get(path, headers=headers)
            assert 400 <= r.status_code < 600, r.text
            assert r.status_code != 500, r.text
            assert "cannot be reached" in r.text
            for secret in secrets:
                assert secret not in r.text, (path, secret, r.text)
