"""plugbay-keys: authenticate virtual ``pb-`` keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl
from plugbay_keys.authenticator import KeyAuthenticator


@hookimpl
def plugbay_register_authenticators(register: Callable[[Any], None]) -> None:
    register(KeyAuthenticator())
