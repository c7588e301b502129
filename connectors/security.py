"""Certificates, trust and users for secured OPC UA sessions.

Policies: Basic256Sha256, Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss, each
with Sign or SignAndEncrypt. Application instance certificates are created on
first run when the files are absent (or no longer valid for the application
URI), with asyncua's own helper
(:func:`asyncua.crypto.cert_gen.setup_self_signed_certificate`, built on
``cryptography``): a 2048-bit RSA key in PEM, readable by its owner only
(0600), and a self-signed certificate in DER, valid for one year, with the
application URI and host name as subject alternative names.

The server's certificate is checked against a trust list, a folder of DER or
PEM certificates (:func:`check_server_certificate`): trusted when it is in the
folder or issued by a CA certificate that is. Trust on first use, only when
asked for, stores the first certificate a server presents in that folder
(``tofu-<host>-<port>.der``) and refuses any other one afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asyncua.crypto import cert_gen, security_policies
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from carbontwin.twin.errors import ConnectorError

__all__ = [
    "POLICY_CLASSES",
    "CertificatePair",
    "PasswordUserManager",
    "check_server_certificate",
    "ensure_certificate",
]

log = logging.getLogger(__name__)

#: Security policies carbontwin speaks (OPC UA names) and their asyncua classes.
POLICY_CLASSES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}
POLICIES = ("None", *POLICY_CLASSES)
#: Message security modes.
MODES = ("None", "Sign", "SignAndEncrypt")


@dataclass(frozen=True, slots=True)
class CertificatePair:
    """Paths of an application instance certificate (DER) and its private key (PEM)."""

    certificate: Path
    private_key: Path


async def ensure_certificate(
    certificate: Path | str,
    private_key: Path | str,
    application_uri: str,
    *,
    server: bool = False,
    host_name: str | None = None,
) -> CertificatePair:
    """Create a self-signed certificate and key at the given paths unless valid ones exist.

    Parameters
    ----------
    certificate, private_key : path
        Where the DER certificate and the PEM key live (parent folders are created).
    application_uri : str
        The application URI the certificate is issued to; asyncua checks that it
        matches the client's or server's ``application_uri``.
    server : bool
        Issue a server certificate (server and client authentication usage);
        otherwise a client certificate.
    host_name : str, optional
        DNS name in the certificate; defaults to this machine's host name.

    Returns
    -------
    CertificatePair
        The two paths, existing on return.

    Raises
    ------
    ConnectorError
        When a file cannot be written or an existing key cannot be read.
    """
    cert_path, key_path = Path(certificate), Path(private_key)
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usage.append(ExtendedKeyUsageOID.SERVER_AUTH)
    old_umask = os.umask(0o077)  # a new key file is never readable by others, not even briefly
    try:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        await cert_gen.setup_self_signed_certificate(
            key_path,
            cert_path,
            application_uri,
            host_name or socket.gethostname(),
            usage,
            {"organizationName": "carbontwin"},
        )
        os.chmod(key_path, 0o600)
    except (OSError, ValueError) as exc:
        msg = (
            f"cannot create or read the certificate {cert_path} / key {key_path} for "
            f"{application_uri!r}: {exc}"
        )
        raise ConnectorError(msg) from exc
    finally:
        os.umask(old_umask)
    return CertificatePair(cert_path, key_path)


def thumbprint(der: bytes) -> str:
    """SHA-256 fingerprint of a DER certificate, as hex pairs (what a server's admin shows)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _trusted_ders(trust_dir: Path) -> list[bytes]:
    out = []
    for f in sorted(trust_dir.glob("*")):
        if f.suffix.lower() not in (".der", ".pem", ".crt"):
            continue
        data = f.read_bytes()
        try:
            cert = (
                x509.load_pem_x509_certificate(data)
                if data.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(data)
            )
        except ValueError:
            log.warning("trust list %s: %s is not a certificate", trust_dir, f.name)
            continue
        out.append(cert.public_bytes(Encoding.DER))
    return out


async def check_server_certificate(
    der: bytes, endpoint: str, trust_dir: Path, *, trust_on_first_use: bool = False
) -> None:
    """Accept the server certificate ``der`` only if the trust list in ``trust_dir`` holds it
    (or the CA that issued it); with ``trust_on_first_use``, store the first one seen.

    Raises
    ------
    ConnectorError
        Naming the certificate's subject and SHA-256 thumbprint and what to do.
    """
    trust_dir = Path(trust_dir)
    known = _trusted_ders(trust_dir) if trust_dir.is_dir() else []
    if der in known:
        return
    cert = x509.load_der_x509_certificate(der)
    if known:
        store = TrustStore([trust_dir], [])
        await store.load_trust()
        logging.getLogger("asyncua.crypto.truststore").disabled = True  # it logs a traceback
        try:
            if store.is_trusted(cert):
                return
        finally:
            logging.getLogger("asyncua.crypto.truststore").disabled = False
    url = urlparse(endpoint)
    tofu = trust_dir / f"tofu-{url.hostname}-{url.port or 4840}.der"
    subject = cert.subject.rfc4514_string()
    if trust_on_first_use and not tofu.exists():
        trust_dir.mkdir(parents=True, exist_ok=True)
        tofu.write_bytes(der)
        log.warning(
            "trusting %s on first use: %s (SHA-256 %s) stored in %s",
            endpoint,
            subject,
            thumbprint(der),
            tofu,
        )
        return
    if tofu.exists():
        msg = (
            f"server {endpoint} presents a certificate other than the one trusted on first use "
            f"({tofu}): {subject}, SHA-256 {thumbprint(der)}; if the server's certificate was "
            "renewed on purpose, check the thumbprint and replace that file"
        )
    else:
        msg = (
            f"server {endpoint} presents a certificate that is not in the trust list {trust_dir}: "
            f"{subject}, SHA-256 {thumbprint(der)}; check the thumbprint with the server's "
            "administrator and copy the certificate into that folder (or set "
            "security.trust_on_first_use: true)"
        )
    raise ConnectorError(msg)


class PasswordUserManager(UserManager):
    """asyncua user manager accepting the configured username/password pairs.

    Anonymous sessions are refused when any user is configured.
    """

    def __init__(self, users: dict[str, str]) -> None:
        self._users = dict(users)

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is None or password is None:
            return None
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return User(role=UserRole.User, name=username)
