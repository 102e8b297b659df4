"""Registry state in SQLite: providers, models, keys, usage and the gateway's own settings.

The only module with SQL. Reads go through :attr:`Store.db`; every write through
:meth:`Store.write` (one writer per process; see :mod:`plugbay._registry.writer`).
"""

from __future__ import annotations

from plugbay._registry.store import ModelRecord, ProviderRecord, Snapshot, Store
from plugbay._registry.writer import RegistryBusy

__all__ = ["ModelRecord", "ProviderRecord", "RegistryBusy", "Snapshot", "Store"]
