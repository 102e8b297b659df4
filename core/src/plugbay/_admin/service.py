"""Providers, models, keys and usage: validation and registry writes in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from plugbay._admin import keys as key_ops
from plugbay._admin import usage as usage_ops
from plugbay._admin.probe import probe_provider
from plugbay._admin.shapes import KeyCreate, KeyUpdate, KeyView, Page, UsageReport
from plugbay._auth import mask
from plugbay._crypto import SecretKeyMissing
from plugbay._errors import Conflict, InvalidRequest, ModelNotFound, NotFound, ServiceUnavailable
from plugbay._metadata import adapter_capabilities, provider_models, provider_state
from plugbay._pricing import Price
from plugbay._settings import (
    ConfigError,
    ModelSettings,
    ProviderSettings,
    provider_from_dict,
    provider_to_dict,
)
from plugbay._validation import describe, name_problem

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._problems import ProviderProblem
    from plugbay._registry import ModelRecord, ProviderRecord, Registry, Snapshot

__all__ = ["AdminService"]

MAX_PAGE = 1000


def _invalid(exc: ConfigError) -> InvalidRequest:
    return InvalidRequest(f"{exc.key}: {exc.reason}" if exc.key else exc.reason, param=exc.key)


def convert(data: Any, type_: type[Any]) -> Any:
    """``msgspec.convert`` with errors as 400s naming the field."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        param, message = describe(exc)
        raise InvalidRequest(f"{param}: {message}" if param else message, param=param) from None


def page(items: list[Any], total: int, limit: int, last_id: str | None) -> Page:
    has_more = len(items) > limit
    items = items[:limit]
    return Page(data=items, total=total, has_more=has_more, last_id=last_id if items else None)


def _status(problem: ProviderProblem | None) -> str:
    if problem is None:
        return "ok"
    return "undecryptable" if problem.undecryptable else "misconfigured"


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"`limit` must be between 1 and {MAX_PAGE}.", param="limit")
    return limit


class AdminService:
    """Admin operations on a gateway's registry (a running gateway, or one just opened)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.store: Registry = gateway.store

    async def _changed(self) -> None:
        if self.gateway.ready:
            await self.gateway.refresh()

    # --- providers -----------------------------------------------------------------------------

    def provider_view(self, record: ProviderRecord) -> dict[str, Any]:
        """The provider as the admin API shows it: ``status`` says whether it can serve.

        ``ok``; ``undecryptable`` (its stored api key cannot be read with this process's
        ``PLUGBAY_SECRET_KEY``: ``api_key`` is then null); or ``misconfigured``. ``problem``
        holds the code and message when it is not ``ok``.
        """
        settings = record.settings
        data = provider_to_dict(settings)
        problem = self.gateway.provider_problem(record)
        key = None
        if problem is None or not problem.undecryptable:
            if record.source == "config":
                key = self.gateway.config_api_key(record.name)
            else:
                key = self.gateway.provider_secret(record)
        data["api_key"] = mask(key)
        data.update(
            object="provider",
            source=record.source,
            status=_status(problem),
            state=provider_state(self.gateway, record.name, problem),
            problem=None if problem is None else {"code": problem.code, "message": problem.message},
            capabilities=self._capabilities(record.name),
            models=provider_models(self.gateway, record.name),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
        return data

    def _capabilities(self, name: str) -> dict[str, Any] | None:
        """What the provider's adapter declares (``None`` while it cannot be built)."""
        try:
            provider = self.gateway.provider(name)
        except ModelNotFound:
            return None
        result: dict[str, Any] = msgspec.to_builtins(adapter_capabilities(provider))
        return result

    def _usable(self, record: ProviderRecord, *, secret_only: bool = False) -> None:
        """Refuse to act on a provider that cannot serve (``secret_only``: for its secret).

        503 when ``PLUGBAY_SECRET_KEY`` is not set (only the operator can fix that); 409 when
        it differs from the one the secret was stored with (a new ``api_key`` fixes it), or
        the provider's settings are not valid (a PATCH fixes them).
        """
        problem = self.gateway.provider_problem(record)
        if problem is None or (secret_only and not problem.undecryptable):
            return
        message = f"Provider {record.name!r} cannot be used: {problem.message}."
        if problem.code == "secret_key_missing":
            raise ServiceUnavailable(message, code=problem.code)
        raise Conflict(message, code=problem.code)

    async def list_providers(self, limit: int = 100, after: str | None = None) -> Page:
        snapshot = await self.store.snapshot()
        return self._page(
            [self.provider_view(r) for r in snapshot.providers.values()], limit, after
        )

    @staticmethod
    def _page(items: list[dict[str, Any]], limit: int, after: str | None) -> Page:
        check_limit(limit)
        items.sort(key=lambda item: item["name"])
        total = len(items)
        if after is not None:
            items = [item for item in items if item["name"] > after]
        chunk = items[: limit + 1]
        return page(
            chunk, total, limit, chunk[min(limit, len(chunk)) - 1]["name"] if chunk else None
        )

    async def _provider(self, name: str) -> ProviderRecord:
        record = (await self.store.snapshot()).providers.get(name)
        if record is None:
            raise NotFound(f"No provider named {name!r}.", param="name")
        return record

    async def get_provider(self, name: str) -> dict[str, Any]:
        return self.provider_view(await self._provider(name))

    def _validate_provider(self, data: Any) -> ProviderSettings:
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        try:
            provider = provider_from_dict(data)
            self.gateway.adapter_options(provider, "")
        except ConfigError as exc:
            exc.key = (exc.key or "").lstrip(".") or None
            raise _invalid(exc) from None
        return provider

    def _seal(self, provider: ProviderSettings) -> bytes | None:
        if not provider.api_key:
            return None
        try:
            return self.gateway.secrets.encrypt(provider.api_key, context=provider.name)
        except SecretKeyMissing as exc:
            raise InvalidRequest(str(exc), param="api_key", code="secret_key_missing") from None

    async def create_provider(self, data: Any) -> dict[str, Any]:
        provider = self._validate_provider(data)
        secret = self._seal(provider)
        if not await self.store.providers.add(provider, secret):
            raise Conflict(f"A provider named {provider.name!r} already exists.", param="name")
        await self._changed()
        return await self.get_provider(provider.name)

    async def update_provider(self, name: str, data: Any) -> dict[str, Any]:
        record = await self._provider(name)
        self._refuse_config(record.source, "provider", name)
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        if "name" in data and data["name"] != name:
            raise InvalidRequest("A provider cannot be renamed.", param="name")
        rekeying = "api_key" in data
        if not rekeying:  # a new api_key is the fix for one that cannot be decrypted
            self._usable(record, secret_only=True)
        merged = {**provider_to_dict(record.settings), **data, "name": name}
        merged.pop("api_key", None)
        if rekeying:
            merged["api_key"] = data["api_key"]
        provider = self._validate_provider(merged)
        secret = self._seal(provider) if rekeying else None
        updated = await self.store.providers.update(
            provider, secret=secret, replace_secret=rekeying
        )
        if not updated:
            raise NotFound(f"No provider named {name!r}.", param="name")
        await self._changed()
        return await self.get_provider(name)

    async def delete_provider(self, name: str) -> dict[str, Any]:
        record = await self._provider(name)
        self._refuse_config(record.source, "provider", name)
        users = await self.store.providers.delete(name)
        if users:
            raise Conflict(
                f"Provider {name!r} still serves models: {', '.join(users)}; "
                "delete or move them first.",
                param="name",
            )
        await self._changed()
        return {"id": name, "object": "provider", "deleted": True}

    @staticmethod
    def _refuse_config(source: str, kind: str, name: str) -> None:
        if source == "config":
            raise Conflict(
                f"The {kind} {name!r} is declared in the config file; change it "
                "there (the admin API may only override its price).",
                code="managed_by_config",
            )

    async def test_provider(self, name: str, model: str | None = None) -> dict[str, Any]:
        self._usable(await self._provider(name))
        return await probe_provider(self.gateway, name, model)

    # --- models --------------------------------------------------------------------------------

    def model_view(self, record: ModelRecord, snapshot: Snapshot) -> dict[str, Any]:
        """The model as the admin API shows it; ``status`` is its provider's."""
        data: dict[str, Any] = msgspec.to_builtins(record.settings)
        data["upstream_model"] = record.upstream_model
        price = self.gateway.price_of(record.name)
        provider = snapshot.providers.get(record.provider)
        problem = None if provider is None else self.gateway.provider_problem(provider)
        data.update(
            object="model",
            source=record.source,
            status=_status(problem),
            price=msgspec.to_builtins(price) if price is not None else None,
            price_overridden=record.name in snapshot.prices,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
        return data

    async def list_models(self, limit: int = 100, after: str | None = None) -> Page:
        snapshot = await self.store.snapshot()
        return self._page(
            [self.model_view(r, snapshot) for r in snapshot.models.values()], limit, after
        )

    async def _model(self, name: str) -> tuple[ModelRecord, Snapshot]:
        snapshot = await self.store.snapshot()
        record = snapshot.models.get(name)
        if record is None:
            raise NotFound(f"No model named {name!r}.", param="name", code="model_not_found")
        return record, snapshot

    async def get_model(self, name: str) -> dict[str, Any]:
        return self.model_view(*await self._model(name))

    async def _validate_model(self, data: Any) -> ModelSettings:
        model: ModelSettings = convert(data, ModelSettings)
        problem = name_problem("model", model.name)
        if problem is not None:
            raise InvalidRequest(f"name: {problem}", param="name")
        providers = (await self.store.snapshot()).providers
        if not model.deployments and model.provider not in providers:
            raise InvalidRequest(
                f"provider: no provider named {model.provider!r}", param="provider"
            )
        for index, deployment in enumerate(model.deployments):
            if deployment.provider not in providers:
                param = f"deployments[{index}].provider"
                raise InvalidRequest(
                    f"{param}: no provider named {deployment.provider!r}", param=param
                )
        if model.strategy not in self.gateway.strategies:
            known = ", ".join(sorted(self.gateway.strategies))
            raise InvalidRequest(
                f"strategy: unknown strategy {model.strategy!r} (known: {known})",
                param="strategy",
            )
        return model

    async def create_model(self, data: Any) -> dict[str, Any]:
        model = await self._validate_model(data)
        if not await self.store.models.add(model):
            raise Conflict(f"A model named {model.name!r} already exists.", param="name")
        await self._changed()
        return await self.get_model(model.name)

    async def update_model(self, name: str, data: Any) -> dict[str, Any]:
        record, _ = await self._model(name)
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        if "name" in data and data["name"] != name:
            raise InvalidRequest("A model cannot be renamed.", param="name")
        if record.source == "config":
            if set(data) - {"price"}:
                self._refuse_config(record.source, "model", name)
            await self._set_price(name, data.get("price"))
            return await self.get_model(name)
        merged = {**msgspec.to_builtins(record.settings), **data, "name": name}
        model = await self._validate_model(merged)
        await self.store.models.update(model)
        await self._changed()
        return await self.get_model(name)

    async def _set_price(self, name: str, data: Any) -> None:
        """Override a model's price (``None`` removes the override)."""
        price: Price | None = None if data is None else convert(data, Price)
        await self.store.models.set_price(name, price)
        await self._changed()

    async def delete_model(self, name: str) -> dict[str, Any]:
        record, _ = await self._model(name)
        self._refuse_config(record.source, "model", name)
        await self.store.models.delete(name)
        await self._changed()
        return {"id": name, "object": "model", "deleted": True}

    # --- keys and usage ------------------------------------------------------------------------

    async def create_key(self, data: Any) -> KeyView:
        view = await key_ops.create(self.store, convert(data, KeyCreate))
        await self._changed()
        return view

    async def list_keys(self, limit: int = 100, after: str | None = None) -> Page:
        await self.gateway.flush_usage()  # spend as recorded, this worker's included
        return await key_ops.list_(self.store, check_limit(limit), after)

    async def get_key(self, key_id: str) -> KeyView:
        await self.gateway.flush_usage()
        return await key_ops.get(self.store, key_id)

    async def update_key(self, key_id: str, data: Any) -> KeyView:
        view = await key_ops.update(self.store, key_id, convert(data, KeyUpdate))
        await self._changed()
        return view

    async def revoke_key(self, key_id: str) -> KeyView:
        view = await key_ops.revoke(self.store, key_id)
        await self._changed()
        return view

    async def usage(self, **query: Any) -> UsageReport:
        await self.gateway.flush_usage()
        return await usage_ops.report(self.store, **query)
