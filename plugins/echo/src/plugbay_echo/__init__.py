"""plugbay-echo: the ``echo`` adapter type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl
from plugbay_echo.provider import EchoOptions, EchoProvider

if TYPE_CHECKING:
    from plugbay import AdapterRegister


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    register.adapter("echo", EchoProvider, options=EchoOptions)
