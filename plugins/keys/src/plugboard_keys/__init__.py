"""plugboard-keys: authenticate virtual ``pb-`` keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard_keys.authenticator import KeyAuthenticator


@hookimpl
def plugboard_register_authenticators(register: Callable[[Any], None]) -> None:
    register(KeyAuthenticator())
