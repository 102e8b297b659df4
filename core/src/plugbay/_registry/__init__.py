"""The registry: providers, models, prices, keys, usage, the gateway's own state, plugins' data.

The only package with SQL. :class:`~plugbay._registry.api.Registry` is the interface every
caller (admin, usage, the gateway, plugins) uses; :class:`Store` implements it on SQLite, one
module per kind of data (:mod:`.providers`, :mod:`.models`, :mod:`.keys`, :mod:`.usage`).
Reads go through the store's reading connection; every write through :meth:`Store.write`
(one writer per process; see :mod:`plugbay._registry.writer`).
"""

from __future__ import annotations

from plugbay._registry.api import KeyStore, ModelStore, ProviderStore, Registry, UsageStore
from plugbay._registry.records import KeyRecord, ModelRecord, ProviderRecord, Snapshot
from plugbay._registry.store import Store
from plugbay._registry.writer import RegistryBusy

__all__ = [
    "KeyRecord",
    "KeyStore",
    "ModelRecord",
    "ModelStore",
    "ProviderRecord",
    "ProviderStore",
    "Registry",
    "RegistryBusy",
    "Snapshot",
    "Store",
    "UsageStore",
]
