"""plugbay-echo: the ``echo`` adapter type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl
from plugbay_echo.provider import EchoOptions, EchoProvider


@hookimpl
def plugbay_register_adapters(register: Callable[..., Any]) -> None:
    register("echo", EchoProvider, options=EchoOptions)
