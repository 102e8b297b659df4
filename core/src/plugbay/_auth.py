"""Credentials: reading them from a request, hashing them, asking the authenticators."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from plugbay._errors import AuthenticationError, PermissionDenied

if TYPE_CHECKING:
    from plugbay._protocols import Authenticator
    from plugbay._types import Principal

__all__ = [
    "ANONYMOUS",
    "KEY_PREFIX",
    "AuthChain",
    "bearer_token",
    "hash_key",
    "new_key",
    "verify_key",
]

KEY_PREFIX = "pb-"
"""How every virtual key begins (``pb-`` then 43 url-safe characters); the admin API makes
them, the keys plugin answers for them (``plugbay.KEY_PREFIX``)."""


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credential from ``Authorization: Bearer``, ``x-api-key`` or ``api-key``."""
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return headers.get("x-api-key") or headers.get("api-key") or None


def new_key(prefix: str) -> str:
    """A new random key: ``prefix`` then 43 url-safe characters (32 bytes of randomness)."""
    return prefix + secrets.token_urlsafe(32)


_DOMAIN = b"plugbay-api-key-v1"


def hash_key(key: str) -> str:
    """The registry's form of a key (``plugbay.hash_key``): only this is ever stored.

    HMAC-SHA-256 of a high-entropy key, as hex: a slow password hash would cost every request.
    """
    return hmac.digest(_DOMAIN, key.encode(), "sha256").hex()  # one-shot: ~5x hmac.new


def verify_key(key: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_key(key), hashed)


class AuthChain:
    """Asks each authenticator in turn; the first principal wins; nobody answering is a 401."""

    def __init__(self, authenticators: Sequence[Authenticator], *, disabled: bool = False):
        self.authenticators = tuple(authenticators)
        self.disabled = disabled

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if self.disabled:
            return ANONYMOUS
        token = bearer_token(headers)
        for authenticator in self.authenticators:
            principal = await authenticator.authenticate(token, headers)
            if principal is not None:
                return principal
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. Provide it in the Authorization header "
                "(Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        raise AuthenticationError(f"Incorrect API key provided: {mask(token)}.")


def require_scope(principal: Principal, scope: str) -> None:
    if not principal.has_scope(scope):
        raise PermissionDenied(f"This key does not have the `{scope}` scope.", code="missing_scope")


def mask(secret: str | None) -> str | None:
    """``sk-...wxyz``: enough to recognise a key, never enough to use it."""
    if not secret:
        return None
    if len(secret) < 12:
        return "***"
    return f"{secret[:3]}...{secret[-4:]}"


def _anonymous() -> Principal:
    from plugbay._types import Principal

    return Principal(key_id=None, name="anonymous")


ANONYMOUS = _anonymous()
