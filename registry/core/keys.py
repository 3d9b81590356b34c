"""Ed25519 keys: generation, passphrase-protected storage, signing, key ids.

Rules this module enforces:

* a private key lives only in ``<keys_dir>/<key_id>.pem``, PKCS#8 encrypted
  with the operator's passphrase (file mode 0600); it never enters the
  database, the published output or a log line — this module never formats a
  private key into a string or an exception message;
* the passphrase comes from ``SZZZ_PASSPHRASE`` or from a prompt the caller
  supplies (see :func:`passphrase_from_env`);
* a key id is the first 8 bytes of SHA-256 of the raw 32-byte public key,
  written as 16 lowercase hex characters; marks carry the 8 raw bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from registry.core import canonical
from registry.core.canonical import JSON
from registry.core.exceptions import ConfigError, KeyStoreError, SignatureError

PASSPHRASE_ENV = "SZZZ_PASSPHRASE"
KEY_ID_BYTES = 8


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def key_id_bytes(public_raw: bytes) -> bytes:
    return hashlib.sha256(public_raw).digest()[:KEY_ID_BYTES]


def key_id_of(public_raw: bytes) -> str:
    """Key id (16 hex chars) of a raw 32-byte Ed25519 public key."""
    if len(public_raw) != 32:
        raise SignatureError(
            f"Ed25519 public key must be 32 bytes, observed {len(public_raw)}"
        )
    return key_id_bytes(public_raw).hex()


def public_from_b64(text: str) -> Ed25519PublicKey:
    raw = canonical.unb64url(text)
    if len(raw) != 32:
        raise SignatureError(
            f"Ed25519 public key must be 32 bytes, observed {len(raw)}"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


class Signer:
    """A private key in memory, known by its key id. Never printable."""

    __slots__ = ("_private", "key_id", "public_raw")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_raw = raw_public(private_key.public_key())
        self.key_id = key_id_of(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @property
    def public_b64(self) -> str:
        return canonical.b64url(self.public_raw)

    def __repr__(self) -> str:
        return f"<Signer key_id={self.key_id}>"

    def __reduce__(self) -> NoReturn:  # refuse pickling: keys must not leave the process
        raise TypeError("Signer objects cannot be pickled")


def signer_from_seed(seed: bytes) -> Signer:
    """A deterministic key from a documented seed (test vectors only).

    The private key is SHA-256(seed); see ``docs/canonical-encoding.md``.
    """
    return Signer(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))


def passphrase_from_env(prompt: Callable[[], str | bytes] | None = None) -> bytes:
    """The key passphrase: ``SZZZ_PASSPHRASE``, else ``prompt()``, else an error."""
    value: str | bytes | None = os.environ.get(PASSPHRASE_ENV)
    if value is None and prompt is not None:
        value = prompt()
    if not value:
        raise ConfigError(
            f"no key passphrase: set {PASSPHRASE_ENV} or run interactively"
        )
    return value.encode("utf-8") if isinstance(value, str) else value


def key_path(keys_dir: str | os.PathLike[str], key_id: str) -> Path:
    return Path(keys_dir) / f"{key_id}.pem"


def generate(keys_dir: str | os.PathLike[str], passphrase: bytes) -> Signer:
    """Create a new key, write it encrypted to ``keys_dir`` and return it.

    The file is written to a temporary name with mode 0600 and renamed, so a
    crash never leaves a half-written key.
    """
    if not passphrase:
        raise ConfigError("refusing to write a private key without a passphrase")
    keys_dir = Path(keys_dir)
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
    except OSError as e:
        raise KeyStoreError(f"{keys_dir}: cannot hold key files there ({e.strerror or e})") from None
    private = Ed25519PrivateKey.generate()
    signer = Signer(private)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    target = key_path(keys_dir, signer.key_id)
    tmp = target.with_suffix(".pem.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return signer


def load(keys_dir: str | os.PathLike[str], key_id: str, passphrase: bytes) -> Signer:
    """Load the private key ``key_id`` from ``keys_dir``."""
    path = key_path(keys_dir, key_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"{path}: no private key file for key {key_id}") from None
    except OSError as e:  # --keys names a file, not a directory; unreadable file; ...
        raise KeyStoreError(f"{path}: cannot read the key file of key {key_id} ({e.strerror})") from None
    try:
        private = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        # Deliberately vague: never echo key material or the passphrase.
        raise KeyStoreError(
            f"{path}: cannot decrypt key {key_id} (wrong passphrase?)"
        ) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyStoreError(f"{path}: not an Ed25519 key")
    signer = Signer(private)
    if signer.key_id != key_id:
        raise KeyStoreError(
            f"{path}: holds key {signer.key_id}, expected {key_id}"
        )
    return signer


def verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature (never raises).

    libsodium is tried first: it verifies ~1.7× faster than OpenSSL here
    (a build checks every signature in the registry), and what it accepts
    OpenSSL accepts too (both RFC 8032 cofactorless; libsodium also refuses
    small-order points and non-canonical encodings). Whatever libsodium
    refuses is decided by `cryptography`, so the accepted set is exactly
    `cryptography`'s, as before.
    """
    if isinstance(signature, bytes) and len(signature) == 64 and isinstance(message, bytes) \
            and isinstance(public_raw, bytes) and len(public_raw) == 32:
        try:
            nacl.bindings.crypto_sign_open(signature + message, public_raw)
            return True
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            pass
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def verify_envelope(envelope: JSON, domain: str, public_raw: bytes) -> JSON:
    """Check an envelope's signature with ``public_raw``; return its record.

    Raises :class:`SignatureError` naming what was observed and expected.
    """
    record = canonical.envelope_payload(envelope, domain)
    verify_signature(envelope, domain, public_raw)
    return record


def verify_signature(envelope: JSON, domain: str, public_raw: bytes) -> None:
    """Check the key id and signature of a ``domain`` envelope whose payload
    is text, without decoding the payload (:func:`verify_envelope` decodes it
    first). Raises :class:`SignatureError` naming what was observed and expected.
    """
    expected_id = key_id_of(public_raw)
    if envelope.get("key_id") != expected_id:
        raise SignatureError(
            f"envelope signed by key {envelope.get('key_id')!r}, expected {expected_id}"
        )
    signature = canonical.unb64url(envelope.get("signature", ""))
    message = canonical.signing_input(domain, envelope["payload"].encode("utf-8"))
    if len(signature) != 64 or not verify(public_raw, signature, message):
        raise SignatureError(f"{domain} signature by key {expected_id} does not verify")
