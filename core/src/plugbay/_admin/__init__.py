"""The admin operations behind ``/admin/*`` and the ``plugbay`` CLI's management commands.

Routes and the CLI are thin: they parse input and call :class:`AdminService`, which validates,
writes the registry in one transaction, and tells the gateway about the change.
"""

from __future__ import annotations

from plugbay._admin.service import AdminService

__all__ = ["AdminService"]
