"""Circuit breakers (the integrator's in-memory stand-in; the shared stores replace it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import msgspec

__all__ = ["Breaker", "BreakerConfig", "BreakerStore", "MemoryBreakerStore", "open_store"]


class BreakerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    failures: int = 5
    error_rate: float = 0.5
    min_requests: int = 20
    window: float = 30.0
    cooldown: float = 30.0
    store: str = "memory"
    path: str | None = None


class Breaker(Protocol):
    async def allow(self, now: float) -> bool: ...
    async def success(self, now: float) -> None: ...
    async def failure(self, now: float) -> None: ...
    def state(self, now: float) -> str: ...
    def reopens_at(self) -> float | None: ...


class BreakerStore(Protocol):
    def breaker(self, key: str) -> Breaker: ...
    async def aclose(self) -> None: ...


class _MemoryBreaker:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.count = 0
        self.until: float | None = None
        self.probing: float | None = None

    async def allow(self, now: float) -> bool:
        if self.until is None:
            return True
        if now < self.until:
            return False
        if self.probing is not None and now < self.probing + self.config.cooldown:
            return False
        self.probing = now
        return True

    async def success(self, now: float) -> None:
        if self.count or self.until is not None:
            self.count, self.until, self.probing = 0, None, None

    async def failure(self, now: float) -> None:
        self.count += 1
        if self.until is not None or (self.config.failures and self.count >= self.config.failures):
            self.until, self.probing = now + self.config.cooldown, None

    def state(self, now: float) -> str:
        if self.until is None:
            return "closed"
        return "open" if now < self.until else "half_open"

    def reopens_at(self) -> float | None:
        return self.until


class MemoryBreakerStore:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self._breakers: dict[str, _MemoryBreaker] = {}

    def breaker(self, key: str) -> Breaker:
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = _MemoryBreaker(self.config)
        return found

    async def aclose(self) -> None:
        pass


def open_store(
    config: BreakerConfig,
    database_path: str,
    registered: Mapping[str, Callable[[BreakerConfig], BreakerStore]],
) -> BreakerStore:
    return MemoryBreakerStore(config)
