"""Certificates and users for OPC UA Basic256Sha256 (Sign, SignAndEncrypt).

Application instance certificates are created on first run when the files are
absent (or no longer valid for the application URI), with asyncua's own helper
(:func:`asyncua.crypto.cert_gen.setup_self_signed_certificate`, built on
``cryptography``): a 2048-bit RSA key in PEM and a self-signed certificate in
DER, valid for one year, with the application URI and host name as subject
alternative names.
"""

from __future__ import annotations

import hmac
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from carbontwin.twin.errors import ConnectorError

__all__ = ["CertificatePair", "PasswordUserManager", "ensure_certificate"]

#: Security policies carbontwin speaks (asyncua names).
POLICIES = ("None", "Basic256Sha256")
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
    except (OSError, ValueError) as exc:
        msg = (
            f"cannot create or read the certificate {cert_path} / key {key_path} for "
            f"{application_uri!r}: {exc}"
        )
        raise ConnectorError(msg) from exc
    return CertificatePair(cert_path, key_path)


class PasswordUserManager:
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
