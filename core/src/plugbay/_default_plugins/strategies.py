"""The built-in routing strategies, registered through the same hook as a plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl
from plugbay._router.strategies import BUILTIN

if TYPE_CHECKING:
    from plugbay._registrars import StrategyRegister


@hookimpl(trylast=True)
def plugbay_register_strategies(register: StrategyRegister) -> None:
    for name, strategy in BUILTIN.items():
        register.strategy(name, strategy)
