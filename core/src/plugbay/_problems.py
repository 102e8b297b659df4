"""Why a provider in the registry cannot serve, said the same way in the log, the admin API,
``/health/ready`` and the 503 its models answer."""

from __future__ import annotations

import msgspec

from plugbay._crypto import SECRET_KEY_ENV, SecretKeyMissing, SecretUnreadable
from plugbay._errors import ServiceUnavailable

__all__ = ["ProviderProblem"]


class ProviderProblem(msgspec.Struct, frozen=True):
    """Why a provider cannot serve; its models answer 503 until it is fixed."""

    code: str
    """``secret_key_missing``, ``secret_key_mismatch`` or ``provider_misconfigured``."""
    reason: str
    """What is wrong, naming no secret (API clients see it too)."""
    fix: str = ""
    """What an administrator can do about it."""

    @property
    def undecryptable(self) -> bool:
        return self.code in ("secret_key_missing", "secret_key_mismatch")

    @property
    def message(self) -> str:
        return f"{self.reason}; {self.fix}" if self.fix else self.reason

    def error(self, model: str, provider: str) -> ServiceUnavailable:
        """The answer to a request for ``model``, which ``provider`` would serve."""
        return ServiceUnavailable(
            f"The model `{model}` cannot be served until an administrator fixes its provider "
            f"{provider!r}: {self.reason}.",
            param="model",
            code=self.code,
        )

    @classmethod
    def of(cls, exc: Exception, name: str) -> ProviderProblem:
        """From what building provider ``name`` raised (a secret, or a ``ConfigError``)."""
        if isinstance(exc, SecretKeyMissing):
            return cls(
                exc.code,
                f"its api key is stored encrypted and {SECRET_KEY_ENV} is not set",
                f"set {SECRET_KEY_ENV} (the key it was stored with) for every gateway process, "
                "or delete the provider",
            )
        if isinstance(exc, SecretUnreadable):
            detail = str(exc).removeprefix("cannot decrypt: ")
            return cls(
                exc.code,
                f"its stored api key cannot be decrypted ({detail})",
                f"set {SECRET_KEY_ENV} back to the key it was stored with, or give the provider "
                f"a new api_key (PATCH /admin/providers/{name})",
            )
        return cls("provider_misconfigured", f"its settings are not valid: {exc}")
