"""The registry's interface: what admin, usage, the gateway and plugins may ask of it.

:class:`Registry` is the one store interface; :class:`plugbay._registry.Store` implements it
on SQLite. Everything written in SQL lives behind it, in :mod:`plugbay._registry`, so another
backend (Postgres) replaces the SQLite one without touching its callers. Plugins see it as
:class:`plugbay.Registry`.

Every write runs in one transaction; when another process holds the database's write lock
beyond the bound, a write fails with ``registry_busy`` (a 503), never a 500. None of these
methods belongs on the request path: the gateway and plugins read the registry at start-up
and when it changed (``registry_changed``), and serve from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import sqlite3

    from plugbay._pricing import Price
    from plugbay._registry.records import KeyRecord, Snapshot
    from plugbay._settings import ModelSettings, ProviderSettings

__all__ = [
    "USAGE_COLUMNS",
    "USAGE_GROUPS",
    "KeyStore",
    "ModelStore",
    "ProviderStore",
    "Registry",
    "UsageStore",
]

P = ParamSpec("P")
T = TypeVar("T")

USAGE_COLUMNS = (
    "ts",
    "request_id",
    "endpoint",
    "key_id",
    "model",
    "provider",
    "upstream_model",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "usage_estimated",
    "latency_ms",
    "ttft_ms",
    "status",
    "error_code",
    "stream",
    "cache_status",
    "deployment",
    "attempts",
    "cost_usd",
)
"""The order of the values in each usage row :meth:`UsageStore.record` is given."""

USAGE_GROUPS = ("key", "model", "provider", "deployment", "day", "hour")
"""What :meth:`UsageStore.report` can group by (``day`` and ``hour`` in UTC)."""


class ProviderStore(Protocol):
    """Providers made at run time (the admin API); the config file's come by ``import_config``."""

    async def add(self, provider: ProviderSettings, secret: bytes | None) -> bool:
        """Add a provider (``secret``: its api key, encrypted); False if the name is taken."""
        ...

    async def update(
        self,
        provider: ProviderSettings,
        *,
        secret: bytes | None = None,
        replace_secret: bool = False,
    ) -> bool:
        """Rewrite its settings (and its secret, with ``replace_secret``); False if absent."""
        ...

    async def delete(self, name: str) -> list[str]:
        """Delete a provider no model uses; else delete nothing and return those models."""
        ...


class ModelStore(Protocol):
    """Models made at run time, and price overrides for any model."""

    async def add(self, model: ModelSettings) -> bool:
        """Add a model; False if the name is taken."""
        ...

    async def update(self, model: ModelSettings) -> None:
        """Rewrite a model; its price override goes (the new settings say what it costs)."""
        ...

    async def delete(self, name: str) -> None: ...

    async def set_price(self, model: str, price: Price | None) -> None:
        """Override a model's price; ``None`` removes the override."""
        ...


class KeyStore(Protocol):
    """Virtual keys: written by the admin API, read by the keys plugin."""

    async def add(self, key: KeyRecord) -> KeyRecord:
        """Store a new key; the store sets its times and zero spend. Returns it as stored."""
        ...

    async def update(self, key_id: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        """Set fields (``name``, ``models``, ``scopes``, ``rpm``, ``tpm``, ``max_parallel``,
        ``max_budget``, ``spend``, ``expires_at``, ``enabled``, ``metadata``) of a key;
        the key as stored, or None if there is no such key."""
        ...

    async def revoke(self, key_id: str) -> KeyRecord | None:
        """Revoke for good (a second revocation keeps the first's time); None if unknown."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def page(self, limit: int, after: str | None) -> tuple[int, list[KeyRecord]]:
        """How many keys there are, and up to ``limit + 1`` keys after the id ``after``."""
        ...

    async def changed_since(self, since: float | None) -> list[KeyRecord]:
        """Every key whose ``changed_at`` is at least ``since`` (``None``: every key)."""
        ...


class UsageStore(Protocol):
    """One row per finished request, and what the rows cost each key."""

    async def record(
        self,
        rows: Sequence[tuple[Any, ...]],
        spend: Mapping[str, float],
        *,
        read_back: bool = False,
    ) -> dict[str, float]:
        """Insert ``rows`` (values in :data:`USAGE_COLUMNS` order) and add ``spend`` (USD by
        key id) to the keys' spend, in one transaction. With ``read_back``, return each of
        those keys' spend as the transaction left it."""
        ...

    async def report(
        self,
        start: float,
        end: float,
        *,
        group_by: Sequence[str] = (),
        key_id: str | None = None,
        model: str | None = None,
    ) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
        """Aggregate the rows in ``[start, end)`` by :data:`USAGE_GROUPS` names.

        Returns the groups (each: the group values, then the totals) and the overall totals.
        Totals are ``(requests, errors, prompt_tokens, completion_tokens, cached_tokens,
        cost_usd or None, unpriced successful requests)``.
        """
        ...


@runtime_checkable
class Registry(Protocol):
    """The registry of one process: providers, models, prices, keys, usage and plugin data.

    Opened once per process: ``open`` brings core's schema and the keys table's up to date,
    then the gateway applies each plugin's declared history (:meth:`migrate_plugin`). Reads
    return typed records; every write is one transaction.
    """

    @property
    def providers(self) -> ProviderStore: ...

    @property
    def models(self) -> ModelStore: ...

    @property
    def keys(self) -> KeyStore: ...

    @property
    def usage(self) -> UsageStore: ...

    async def open(self) -> Registry: ...

    async def close(self) -> None: ...

    async def import_config(
        self, providers: Iterable[ProviderSettings], models: Iterable[ModelSettings]
    ) -> None:
        """Make the config's entries exist as written; drop entries only the config made."""
        ...

    async def snapshot(self) -> Snapshot:
        """Every provider, model and price override, read in one go."""
        ...

    async def registry_version(self) -> int:
        """A counter that every write to providers, models or prices increments."""
        ...

    async def changed(self) -> bool:
        """Whether anything was committed (by any process) since the last call."""
        ...

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> bool:
        """Store ``value``; with ``only_if_absent``, False if the key already existed."""
        ...

    async def migrate_plugin(self, owner: str, steps: Sequence[str]) -> int:
        """Bring ``owner``'s own tables to ``len(steps)``; return its schema version.

        ``steps`` is the owner's whole history (append only), each step applied once, in
        order, in a transaction of its own, its number recorded per owner. Idempotent, and
        safe when several processes start at once. A database at a later version than
        ``steps`` knows stops start-up.
        """
        ...

    async def schema_version(self, owner: str) -> int:
        """The last of ``owner``'s migrations applied (0: none)."""
        ...

    # A plugin's own tables: the backend's own terms (SQLite today). Core and the first-party
    # plugins never use these two; they are for the tables a plugin's migrations made.

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query on the reading connection (never waits for a writer)."""
        ...

    async def write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(connection, *args, **kwargs)`` in one write transaction on the process's one
        writer; its result. ``fn`` may run again after the lock was busy, so it must not act
        outside the database; what it raises rolls the transaction back."""
        ...
