"""``carbontwin serve`` runs the app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_token_and_pact(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "CARBONTWIN_CLIENT_SECRET": "serve-secret",
        "CARBONTWIN_CLIENT_ID": "serve-client",
    }
    cmd = [
        sys.executable,
        "-m",
        "carbontwin.api.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{tmp_path / 'twin.db'}",
        "--key-path",
        str(tmp_path / "key.pem"),
        "--insecure-http",
    ]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"{base}/health", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert r.json()["status"] == "ok"
        tok = httpx.post(
            f"{base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("serve-client", "serve-secret"),
            timeout=5.0,
        )
        assert tok.status_code == 200
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        assert httpx.get(f"{base}/3/footprints", headers=headers, timeout=5.0).json() == {
            "data": []
        }
        assert httpx.get(f"{base}/orders", timeout=5.0).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert "serving on http://127.0.0.1" in out
    assert (tmp_path / "key.pem").exists() is False  # no key needed for these routes
