"""Registry state in SQLite: providers, models and the gateway's own settings."""

from __future__ import annotations

from plugbay.registry.store import ModelRecord, ProviderRecord, Snapshot, Store

__all__ = ["ModelRecord", "ProviderRecord", "Snapshot", "Store"]
