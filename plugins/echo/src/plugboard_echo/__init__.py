"""plugboard-echo: the ``echo`` adapter type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard_echo.provider import EchoOptions, EchoProvider


@hookimpl
def plugboard_register_adapters(register: Callable[..., Any]) -> None:
    register("echo", EchoProvider, options=EchoOptions)
