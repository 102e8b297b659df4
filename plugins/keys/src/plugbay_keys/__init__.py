"""plugbay-keys: authenticate virtual ``pb-`` keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl
from plugbay_keys.authenticator import KeyAuthenticator

if TYPE_CHECKING:
    from plugbay import AuthenticatorRegister


@hookimpl
def plugbay_register_authenticators(register: AuthenticatorRegister) -> None:
    register.authenticator(KeyAuthenticator())
