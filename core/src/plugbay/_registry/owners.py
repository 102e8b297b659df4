"""Plugins' own tables in the registry: the migration histories they declare.

A plugin implements ``plugbay_register_migrations(register)`` and calls
``register.migrations(steps)``: its whole history, append only. At start-up, after core's
schema, the registry brings each owner's tables to the last step
(:meth:`plugbay.Registry.migrate_plugin`), numbered per owner in ``schema_versions``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from plugbay._registry.api import Registry

__all__ = ["History", "MigrationRegister", "apply"]


class History(NamedTuple):
    owner: str
    plugin: str
    steps: tuple[str, ...]


class MigrationRegister:
    """What ``plugbay_register_migrations`` is given (one per plugin, so it knows whose)."""

    def __init__(self, plugin: str, found: dict[str, History]) -> None:
        self._plugin = plugin
        self._found = found

    def migrations(self, steps: Sequence[str], *, owner: str | None = None) -> None:
        """Declare the history of this plugin's tables (``owner``: default the plugin's name).

        ``steps`` are SQLite scripts (the registry's backend), applied once each, in order,
        one transaction per step. Append only: never edit or remove a released step.
        """
        owner = owner or self._plugin
        if isinstance(steps, str) or not all(isinstance(step, str) for step in steps):
            raise TypeError(f"plugin {self._plugin}: migrations must be a sequence of scripts")
        taken = self._found.get(owner)
        if taken is not None:
            raise RuntimeError(
                f"plugins {taken.plugin} and {self._plugin} both declare migrations for {owner!r}"
            )
        self._found[owner] = History(owner, self._plugin, tuple(steps))


async def apply(registry: Registry, histories: Sequence[History]) -> None:
    """Bring every declared owner's tables up to date; an error names the plugin."""
    for history in histories:
        try:
            await registry.migrate_plugin(history.owner, history.steps)
        except (sqlite3.Error, RuntimeError, ValueError) as exc:  # not RegistryBusy: a 503
            raise RuntimeError(
                f"plugin {history.plugin}: migrating its tables ({history.owner!r}) failed: {exc}"
            ) from exc
