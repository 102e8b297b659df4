"""Provider credentials at rest: AES-256-GCM under a key derived from ``PLUGBAY_SECRET_KEY``.

Secrets made through the admin API are stored encrypted; with no secret key set, the gateway
refuses to store them (config-file credentials never reach the database at all).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plugbay._auth import mask

__all__ = ["SECRET_KEY_ENV", "SecretBox", "SecretKeyMissing", "SecretUnreadable", "mask"]

SECRET_KEY_ENV = "PLUGBAY_SECRET_KEY"
_VERSION = b"\x01"


class SecretKeyMissing(Exception):
    """No ``PLUGBAY_SECRET_KEY``: secrets can be neither stored nor read."""

    code = "secret_key_missing"


class SecretUnreadable(ValueError):
    """A stored secret this ``PLUGBAY_SECRET_KEY`` cannot decrypt (another key, or damage)."""

    code = "secret_key_mismatch"


class SecretBox:
    """Encrypts and decrypts short secrets. One per process, built from the environment."""

    def __init__(self, secret_key: str | None) -> None:
        self._aead: AESGCM | None = None
        if secret_key:
            derived = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=b"plugbay",
                info=b"provider-credentials-v1",
            ).derive(secret_key.encode())
            self._aead = AESGCM(derived)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecretBox:
        return cls((os.environ if env is None else env).get(SECRET_KEY_ENV))

    @property
    def available(self) -> bool:
        return self._aead is not None

    def _require(self) -> AESGCM:
        if self._aead is None:
            raise SecretKeyMissing(
                f"{SECRET_KEY_ENV} is not set: plugbay will not store or read provider "
                f"credentials without it. Set it (e.g. `export {SECRET_KEY_ENV}=$(openssl rand "
                "-hex 32)`) for every gateway process."
            )
        return self._aead

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """``context`` (e.g. the provider name) is bound to the ciphertext as associated data."""
        nonce = secrets.token_bytes(12)
        sealed = self._require().encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> str:
        aead = self._require()
        if not blob or blob[:1] != _VERSION:
            raise SecretUnreadable("cannot decrypt: unknown secret format")
        try:
            return aead.decrypt(blob[1:13], blob[13:], context.encode()).decode()
        except InvalidTag:
            raise SecretUnreadable(
                f"cannot decrypt: {SECRET_KEY_ENV} differs from the one it was stored with"
            ) from None
