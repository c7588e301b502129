"""``carbontwin serve`` and secrets: none generated for a network address, none printed;
with ``--workers N`` the N processes share the generated secrets and the signing key,
so a token from any worker is good at every worker."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import psutil
import pytest


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONTWIN_")}
    return {**env, **extra}


@pytest.mark.parametrize(
    ("host", "env", "missing"),
    [
        ("0.0.0.0", {}, "CARBONTWIN_CLIENT_SECRET and CARBONTWIN_TOKEN_SECRET"),
        ("::", {"CARBONTWIN_CLIENT_SECRET": "s3cret-client"}, "CARBONTWIN_TOKEN_SECRET"),
        ("192.0.2.10", {"CARBONTWIN_TOKEN_SECRET": "s3cret-token"}, "CARBONTWIN_CLIENT_SECRET"),
    ],
)
def test_serve_on_a_network_address_needs_configured_secrets(tmp_path, host, env, missing):
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "carbontwin.api.cli", "serve", "--host", host, "--port", "1"],
        env=_env(**env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert f"serving on {host} needs configured secrets: set {missing}" in out.stderr
    for value in env.values():
        assert value not in out.stdout + out.stderr
    assert time.monotonic() - t0 < 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1.0)
            return
        except httpx.TransportError:
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)


@pytest.mark.slow
def test_generated_secret_is_written_0600_and_never_printed(tmp_path):
    port = _free_port()
    key = tmp_path / "keys" / "signing.pem"
    cmd = [sys.executable, "-m", "carbontwin.api.cli", "serve", "--port", str(port)]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'twin.db'}", "--key-path", str(key)]
    cmd += ["--insecure-http"]
    proc = subprocess.Popen(
        cmd, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc)
        secret_file = tmp_path / "keys" / "client-secret.txt"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text().strip()
        assert len(secret) >= 24
        r = httpx.post(
            f"{base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("carbontwin", secret),
        )
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert str(secret_file) in output
    assert secret not in output


@pytest.mark.slow
def test_workers_share_the_generated_secrets_and_the_signing_key(tmp_path):
    port = _free_port()
    key = tmp_path / "keys" / "signing.pem"
    cmd = [sys.executable, "-m", "carbontwin.api.cli", "serve", "--port", str(port)]
    cmd += ["--database-url", f"sqlite:///{tmp_path / 'twin.db'}", "--key-path", str(key)]
    cmd += ["--insecure-http", "--workers", "2"]
    proc = subprocess.Popen(
        cmd, env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
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
