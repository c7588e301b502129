"""``carbontwin serve`` runs the app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import ssl
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


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for IP 127.0.0.1 and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_serve_over_tls_answers_pact_and_refuses_plain_http(tmp_path):
    port = _free_port()
    cert, key = _self_signed(tmp_path)
    env = {**os.environ, "CARBONTWIN_CLIENT_SECRET": "tls-secret", "CARBONTWIN_CLIENT_ID": "tls"}
    cmd = [
        *(sys.executable, "-m", "carbontwin.api.cli", "serve", "--port", str(port)),
        *("--database-url", f"sqlite:///{tmp_path / 'twin.db'}"),
        *("--ssl-certfile", cert, "--ssl-keyfile", key),
    ]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=cert)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", verify=ctx, timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        tok = httpx.post(
            f"{base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("tls", "tls-secret"),
            verify=ctx,
            timeout=5.0,
        )
        assert tok.status_code == 200
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        r = httpx.get(f"{base}/3/footprints", headers=headers, verify=ctx, timeout=5.0)
        assert r.json() == {"data": []}
        try:  # plain HTTP on the TLS port gets no PACT answer
            plain = httpx.get(f"http://127.0.0.1:{port}/3/footprints", headers=headers, timeout=5.0)
            assert plain.status_code >= 400
            assert "data" not in plain.text
        except httpx.TransportError:
            pass
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"serving on https://127.0.0.1:{port}" in out
