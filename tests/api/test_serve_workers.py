"""``carbontwin serve --workers N``: N processes on one port share the signing key and
the secrets, so a token from any worker is good at every worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_workers_share_the_generated_secrets_and_the_signing_key(tmp_path):
    port = _free_port()
    key = tmp_path / "keys" / "signing.pem"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTWIN_")}
    cmd = [sys.executable, "-m", "carbontwin.api.cli", "serve", "--port", str(port)]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'twin.db'}", "--key-path", str(key)]
    cmd += ["--insecure-http", "--workers", "2"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1.0)
                break
            except httpx.TransportError:
                assert proc.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.2)
        # the key exists before any route needed it: made once, before the workers started
        assert key.exists()
        children = [" ".join(p.cmdline()) for p in psutil.Process(proc.pid).children()]
        assert sum("spawn_main" in c for c in children) == 2
        secret = (tmp_path / "keys" / "client-secret.txt").read_text().strip()
        # every request on a new connection, so the two workers answer in turn; a worker
        # with a secret of its own would refuse about half of them
        tokens = [
            httpx.post(
                f"{base}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=("carbontwin", secret),
                timeout=10.0,
            )
            for _ in range(30)
        ]
        assert [t.status_code for t in tokens] == [200] * 30
        bearer = {"Authorization": f"Bearer {tokens[0].json()['access_token']}"}
        answers = [
            httpx.get(f"{base}/3/footprints", headers=bearer, timeout=10.0) for _ in range(30)
        ]
        assert [a.status_code for a in answers] == [200] * 30
        pems = {
            httpx.get(f"{base}/.well-known/carbontwin-signing-key", timeout=10.0).text
            for _ in range(10)
        }
        assert len(pems) == 1
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0]
    assert "2 worker processes" in output
    assert secret not in output
