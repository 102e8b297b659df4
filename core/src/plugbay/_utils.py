from __future__ import annotations

import inspect
from typing import Any


async def await_me_maybe(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hook implementations may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
