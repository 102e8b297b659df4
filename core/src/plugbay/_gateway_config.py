"""What the gateway knows of its configuration: the config file's entries checked against
the installed adapters and strategies, and providers built from registry records.

A mixin of :class:`plugbay._gateway.Gateway`, kept apart so that the lifecycle and the
request path read on their own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay._crypto import SecretKeyMissing
from plugbay._problems import ProviderProblem
from plugbay._protocols import Provider
from plugbay._providers import ProviderContext
from plugbay._registrars import check_protocol
from plugbay._settings import ConfigError, ModelSettings, ProviderSettings
from plugbay._validation import describe

if TYPE_CHECKING:
    from collections.abc import Callable

    from plugbay._crypto import SecretBox
    from plugbay._plugins import AdapterType, PluginManager
    from plugbay._registry import ProviderRecord
    from plugbay._settings import Settings

__all__ = ["EMBEDDED_DEFAULT", "GatewayConfig", "LiveProvider"]

log = logging.getLogger("plugbay")

EMBEDDED_DEFAULT = "echo"


class LiveProvider:
    __slots__ = ("ctx", "provider", "record")

    def __init__(self, record: ProviderRecord, provider: Provider, ctx: ProviderContext):
        self.record, self.provider, self.ctx = record, provider, ctx


class GatewayConfig:
    """The configuration half of the gateway (see the module docstring)."""

    settings: Settings
    plugins: PluginManager
    adapters: dict[str, AdapterType]
    strategies: dict[str, Callable[[], Any]]
    secrets: SecretBox

    def config_entries(self) -> tuple[list[ProviderSettings], list[ModelSettings]]:
        """The config file's providers and models, or the embedded default when there is none."""
        settings = self.settings
        if settings.source is None and not settings.providers and not settings.models:
            if EMBEDDED_DEFAULT in self.adapters:
                return (
                    [ProviderSettings(name=EMBEDDED_DEFAULT, type=EMBEDDED_DEFAULT)],
                    [ModelSettings(name=EMBEDDED_DEFAULT, provider=EMBEDDED_DEFAULT)],
                )
            log.warning("no config file and no `echo` adapter installed: no models to serve")
        return settings.providers, settings.models

    def check_config(self) -> None:
        """Raise :class:`ConfigError` for a config entry no installed adapter can serve."""
        providers, models = self.config_entries()
        names = {p.name for p in providers}
        for index, provider in enumerate(providers):
            self.adapter_options(provider, f"providers[{index}]")
        for index, model in enumerate(models):
            self._check_model(model, f"models[{index}]", names)

    def _check_model(self, model: ModelSettings, key: str, providers: set[str]) -> None:
        source = self.settings.source
        if not model.deployments and model.provider not in providers:
            raise ConfigError(
                f"no provider named {model.provider!r} in this file",
                source=source,
                key=f"{key}.provider",
            )
        for index, deployment in enumerate(model.deployments):
            if deployment.provider not in providers:
                raise ConfigError(
                    f"no provider named {deployment.provider!r} in this file",
                    source=source,
                    key=f"{key}.deployments[{index}].provider",
                )
        if model.strategy not in self.strategies:
            known = ", ".join(sorted(self.strategies))
            raise ConfigError(
                f"unknown strategy {model.strategy!r} (known: {known})",
                source=source,
                key=f"{key}.strategy",
            )

    def adapter_options(self, provider: ProviderSettings, key: str) -> Any:
        source = self.settings.source
        adapter = self.adapters.get(provider.type)
        if adapter is None:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise ConfigError(
                f"no installed plugin provides the adapter type {provider.type!r} "
                f"(installed: {known})",
                source=source,
                key=f"{key}.type",
            )
        if adapter.options is None:
            if provider.options:
                unknown = sorted(provider.options)[0]
                raise ConfigError("unknown setting", source=source, key=f"{key}.{unknown}")
            return provider.options
        try:
            return msgspec.convert(provider.options, adapter.options)
        except msgspec.ValidationError as exc:
            param, message = describe(exc)
            raise ConfigError(
                message, source=source, key=f"{key}.{param}" if param else key
            ) from None

    def provider_problem(self, record: ProviderRecord) -> ProviderProblem | None:
        """Why ``record`` cannot serve (its secret, its settings), or None if it can."""
        try:
            self._resolved_settings(record)
        except (ConfigError, SecretKeyMissing, ValueError) as exc:
            return ProviderProblem.of(exc, record.name)
        return None

    def config_api_key(self, name: str) -> str | None:
        """The api key the config file gives provider ``name`` (kept in memory only)."""
        for provider in self.config_entries()[0]:
            if provider.name == name:
                return provider.api_key
        return None

    def provider_secret(self, record: ProviderRecord) -> str | None:
        """The decrypted api key of a provider made through the admin API."""
        if record.secret is None:
            return None
        return self.secrets.decrypt(record.secret, context=record.name)

    def _resolved_settings(self, record: ProviderRecord) -> tuple[ProviderSettings, Any]:
        """The settings with the api key filled in, and the adapter's options."""
        if record.source == "config":
            api_key = self.config_api_key(record.name)
        else:
            api_key = self.provider_secret(record)
        settings = msgspec.structs.replace(record.settings, api_key=api_key)
        return settings, self.adapter_options(settings, f"provider {record.name!r}")

    def _build_provider(self, record: ProviderRecord) -> LiveProvider:
        settings, options = self._resolved_settings(record)
        ctx = ProviderContext(settings, options, self.settings.server.http_transport)
        adapter = self.adapters[record.type]
        provider = adapter.factory(ctx)
        if not isinstance(adapter.factory, type):  # a class was checked when registered
            check_protocol(
                provider, Provider, self.plugins.label(adapter.plugin), f"adapter {record.type!r}:"
            )
        return LiveProvider(record, provider, ctx)

    async def _close_provider(self, live: LiveProvider, delay: float = 0.0) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:  # cancelled at shutdown: close now
            try:
                await live.provider.aclose()
            except Exception:
                log.exception("closing provider %r failed", live.record.name)
