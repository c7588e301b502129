"""Ed25519 signatures over canonical JSON (footprints, labels, PACT documents).

A signed document is a JSON object::

    {"payload": {...}, "signature": {"alg": "Ed25519", "key_id": "...",
     "sha256": "<hex of canonical payload>", "value": "<base64 signature>"}}

The signature covers :func:`carbontwin.twin.footprint.canonical_json` of the
payload (RFC 8785 canonical JSON), so any changed byte of the payload's
content makes :func:`verify_document` fail. Ed25519 is deterministic: signing
the same payload with the same key gives the same signature.

Footprints are signed once, when they are issued: :class:`Signer` is what the
store's :meth:`~carbontwin.twin.store.Store.issue_footprint` calls, and the
signature is stored beside the footprint; reading a footprint never signs.

Keys are stored as an unencrypted PKCS#8 PEM file (mode 0600), created on
first use by :func:`load_or_create_key`; the public key is served as PEM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carbontwin.twin.errors import PluginError
from carbontwin.twin.footprint import canonical_json

__all__ = [
    "ALG",
    "Signer",
    "Verification",
    "key_id",
    "load_or_create_key",
    "load_public_key",
    "public_key_pem",
    "sign_document",
    "verify_document",
    "verify_pem",
]

ALG = "Ed25519"
_SIG_FIELDS = frozenset({"alg", "key_id", "sha256", "value"})


def load_or_create_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The private key stored at ``path``; a new one is generated and saved if missing.

    Safe when several processes (``carbontwin serve --workers N``) ask at once: the
    new key is written to a file of its own and linked into place in one step, so a
    reader never sees half a key, and every process ends up with the one that got
    there first.
    """
    p = Path(path)
    if p.exists():
        try:
            key = serialization.load_pem_private_key(p.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            msg = f"signing key file {p} is not an unencrypted PEM private key: {exc}"
            raise PluginError(msg, field="key_path") from exc
        if not isinstance(key, Ed25519PrivateKey):
            msg = f"signing key file {p} holds a {type(key).__name__}, not an Ed25519 key"
            raise PluginError(msg, field="key_path")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, p)  # fails if another process put its key there first
    except FileExistsError:
        return load_or_create_key(p)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """PEM (SubjectPublicKeyInfo) of the public half of ``key``."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """Public key from PEM text (as served at the well-known URL)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        msg = f"not a PEM public key: {exc}"
        raise PluginError(msg, field="public_key") from exc
    if not isinstance(key, Ed25519PublicKey):
        msg = f"public key is a {type(key).__name__}, not Ed25519"
        raise PluginError(msg, field="public_key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Short id of a key: first 16 hex digits of SHA-256 of the raw public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_document(payload: Any, key: Ed25519PrivateKey) -> dict[str, Any]:
    """``payload`` wrapped with its Ed25519 signature (see the module docstring)."""
    body = canonical_json(payload)
    sig = key.sign(body)
    return {
        "payload": payload,
        "signature": {
            "alg": ALG,
            "key_id": key_id(key),
            "sha256": hashlib.sha256(body).hexdigest(),
            "value": base64.b64encode(sig).decode("ascii"),
        },
    }


class Signer:
    """Signs footprint payloads at issuance (the store's ``signer``).

    >>> signer = Signer(Ed25519PrivateKey.generate())
    >>> sorted(signer.signature({"a": 1}))
    ['alg', 'key_id', 'sha256', 'value']
    """

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.key_id = key_id(key)
        self.public_key_pem = public_key_pem(key)

    def signature(self, payload: Any) -> dict[str, str]:
        """The ``signature`` member of :func:`sign_document` for ``payload``."""
        sig: dict[str, str] = sign_document(payload, self.key)["signature"]
        return sig

    def signature_of_canonical(self, body: bytes) -> dict[str, str]:
        """The same member for a payload whose RFC 8785 bytes ``body`` the caller made
        (issuing canonicalises each footprint once, for the signature and the log)."""
        return {
            "alg": ALG,
            "key_id": self.key_id,
            "sha256": hashlib.sha256(body).hexdigest(),
            "value": base64.b64encode(self.key.sign(body)).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class Verification:
    """Result of checking a signed document."""

    valid: bool
    reason: str
    key_id: str = ""
    sha256: str = ""
    #: the document is a signed one whose content no longer matches its signature (or
    #: what the signature vouches for); False when it could not be checked at all (not a
    #: signed document, another key, a malformed signature)
    altered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "key_id": self.key_id,
            "sha256": self.sha256,
            "altered": self.altered,
        }


def verify_document(doc: Any, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> Verification:
    """Check a signed document against ``public_key``; never raises for bad input.

    ``doc`` is the parsed JSON object or the raw bytes/text of a signed file.
    """
    if isinstance(doc, bytes | str):
        try:
            doc = json.loads(doc)
        except (ValueError, UnicodeDecodeError) as exc:
            return Verification(False, f"not JSON: {exc}")
    pub = public_key.public_key() if isinstance(public_key, Ed25519PrivateKey) else public_key
    kid = key_id(pub)
    if not isinstance(doc, dict) or "payload" not in doc or "signature" not in doc:
        return Verification(False, "not a signed document: needs 'payload' and 'signature'", kid)
    if set(doc) != {"payload", "signature"}:
        return Verification(
            False, f"unexpected fields {sorted(set(doc) - {'payload', 'signature'})}", kid
        )
    sig = doc["signature"]
    if not isinstance(sig, dict) or set(sig) != _SIG_FIELDS:
        return Verification(
            False, f"signature must have exactly the fields {sorted(_SIG_FIELDS)}", kid
        )
    if not isinstance(sig["value"], str):
        return Verification(False, "signature.value is not a string", kid)
    if sig["alg"] != ALG:
        return Verification(False, f"signature.alg is {sig.get('alg')!r}, expected {ALG}", kid)
    try:
        body = canonical_json(doc["payload"])
    except ValueError as exc:
        return Verification(False, f"payload cannot be canonicalised: {exc}", kid)
    digest = hashlib.sha256(body).hexdigest()
    try:
        raw = base64.b64decode(sig["value"], validate=True)
    except ValueError:
        return Verification(False, "signature.value is not base64", kid, digest)
    if base64.b64encode(raw).decode("ascii") != sig["value"]:
        return Verification(False, "signature.value is not canonical base64", kid, digest)
    if sig["sha256"] != digest:
        return Verification(
            False,
            "signature.sha256 does not match the payload: the document was altered",
            kid,
            digest,
            altered=True,
        )
    if sig["key_id"] != kid:
        return Verification(
            False, f"signed with key {sig.get('key_id')!r}, not with {kid!r}", kid, digest
        )
    try:
        pub.verify(raw, body)
    except InvalidSignature:
        return Verification(
            False,
            "signature does not match the payload: the document was "
            "altered or signed by another key",
            kid,
            digest,
            altered=True,
        )
    return Verification(True, "signature valid", kid, digest)


def verify_pem(doc: Any, public_key_pem: str) -> tuple[bool, str]:
    """``(valid, reason)`` of ``doc`` against a PEM public key (the store's audit verifier)."""
    try:
        pub = load_public_key(public_key_pem)
    except PluginError as exc:
        return False, f"stored public key unusable: {exc.message}"
    result = verify_document(doc, pub)
    return result.valid, result.reason
