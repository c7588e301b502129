"""A plant's security: the server certificate checked against a trust list, trust on first
use only when asked, a refused login ends `connect` with an error."""

from __future__ import annotations

import asyncio
import shutil
import sys

import pytest
import yaml
from asyncua import Server, ua

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.security import PasswordUserManager, ensure_certificate, thumbprint
from carbontwin.twin.errors import ConnectorError

pytestmark = pytest.mark.opcua

URI = "urn:carbontwin:test-secured"


async def _server(port: int, pki, users=None) -> Server:
    server = Server(user_manager=PasswordUserManager(users) if users else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/secured/")
    await server.set_application_uri("urn:carbontwin:test-server")
    server.set_security_policy([ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt])
    pair = await ensure_certificate(
        pki / "server.der", pki / "server-key.pem", "urn:carbontwin:test-server", server=True
    )
    await server.load_certificate(str(pair.certificate))
    await server.load_private_key(str(pair.private_key))
    idx = await server.register_namespace(URI)
    await server.nodes.objects.add_variable(ua.NodeId("p", idx), "p", 1.0, ua.VariantType.Double)
    return server


def _config(tmp_path, port, **security) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        {
            "endpoint": f"opc.tcp://127.0.0.1:{port}/secured/",
            "spool": {"path": str(tmp_path / "spool.db")},
            "connect_retries": 1,
            "reconnect_max_delay_s": 0.2,
            "security": {
                "policy": "Aes256_Sha256_RsaPss",
                "mode": "SignAndEncrypt",
                "certificate": str(tmp_path / "pki" / "client.der"),
                "private_key": str(tmp_path / "pki" / "client-key.pem"),
                "trust_dir": str(tmp_path / "trusted"),
                **security,
            },
            "signals": [{"kind": "power", "meter": "M-1", "node": f"nsu={URI};s=p", "unit": "kW"}],
        }
    )


async def _run(cfg: ConnectorConfig) -> bool:
    """Run until subscribed (True) or ended with an error (raised)."""
    connector = OpcUaConnector(cfg, sink=len)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    ready = asyncio.create_task(connector.ready.wait())
    await asyncio.wait([task, ready], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    subscribed = connector.ready.is_set()
    stop.set()
    await task  # raises the connector's error
    return subscribed


def test_the_server_certificate_must_be_in_the_trust_list(tmp_path, port):
    async def go():
        async with await _server(port, tmp_path / "server-pki") as _:
            with pytest.raises(ConnectorError) as untrusted:
                await _run(_config(tmp_path, port))
            # the administrator checks the thumbprint and copies the certificate
            (tmp_path / "trusted").mkdir()
            shutil.copy(tmp_path / "server-pki" / "server.der", tmp_path / "trusted")
            trusted = await _run(_config(tmp_path, port))
            # trust on first use, when asked for: the first certificate is stored ...
            tofu = await _run(
                _config(tmp_path, port, trust_dir=str(tmp_path / "tofu"), trust_on_first_use=True)
            )
        # ... and a server presenting another certificate later is refused
        async with await _server(port, tmp_path / "other-pki") as _:
            with pytest.raises(ConnectorError) as changed:
                await _run(
                    _config(
                        tmp_path, port, trust_dir=str(tmp_path / "tofu"), trust_on_first_use=True
                    )
                )
        return untrusted.value.message, trusted, tofu, changed.value.message

    untrusted, trusted, tofu, changed = asyncio.run(go())
    der = (tmp_path / "server-pki" / "server.der").read_bytes()
    assert "not in the trust list" in untrusted
    assert thumbprint(der) in untrusted
    assert "refused 2 time(s); giving up" in untrusted  # connect_retries: 1
    assert trusted
    assert [p.read_bytes() for p in (tmp_path / "tofu").glob("tofu-*.der")] == [der]
    assert tofu
    assert "other than the one trusted on first use" in changed
    assert (tmp_path / "pki" / "client-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_refused_password_ends_connect_with_a_clear_error_and_exit_1(tmp_path, port):
    cfg = _config(tmp_path, port, trust_on_first_use=True).model_dump(mode="json")
    cfg.update(username="operator", password="wrong")
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(cfg))

    async def go():
        async with await _server(port, tmp_path / "server-pki", {"operator": "s3cret"}) as _:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "carbontwin.api.cli", "connect", str(path), "--json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            return proc.returncode, err.decode()

    code, err = asyncio.run(go())
    assert code == 1
    assert "refused user 'operator'" in err
    assert "wrong user name or password" in err
    assert "giving up" in err
