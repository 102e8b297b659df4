"""The gateway: the state one worker process serves from, and its lifecycle.

Built once per app by :func:`plugbay._app.create_app`. At start-up it opens the registry,
imports the config file, builds a provider per registry entry and resolves every plugin
hook into plain lists; the request path reads only those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from plugbay._auth import AuthChain
from plugbay._crypto import SecretBox, SecretKeyMissing
from plugbay._errors import ModelNotFound
from plugbay._gateway_config import GatewayConfig, LiveProvider
from plugbay._pricing import Price, default_price
from plugbay._pricing import cost as _cost
from plugbay._problems import ProviderProblem
from plugbay._protocols import Provider
from plugbay._registrars import Registered
from plugbay._registry import Registry, RegistryBusy, Snapshot, Store
from plugbay._registry import owners as plugin_tables
from plugbay._router.breaker import open_store
from plugbay._router.build import build_route, deployments_of
from plugbay._router.health import HealthChecks
from plugbay._router.router import Route, Router
from plugbay._settings import ConfigError
from plugbay._stats import Stats
from plugbay._types import FinishedRequest
from plugbay._usage import UsageRecorder
from plugbay._utils import await_me_maybe
from plugbay._view import Views, lifecycle_methods

if TYPE_CHECKING:
    from plugbay._plugins import AdapterType, PluginManager
    from plugbay._protocols import Cache, RateLimiter
    from plugbay._settings import Settings
    from plugbay._types import RecordedUsage, RequestContext

__all__ = ["Gateway", "Route"]  # Route lives in plugbay._router.router

log = logging.getLogger("plugbay")

WATCH_INTERVAL = 0.25


class Gateway(GatewayConfig):
    """Everything a worker serves from. Attributes read on the request path are plain values."""

    def __init__(
        self, settings: Settings, plugins: PluginManager, *, import_config: bool = True
    ) -> None:
        self.settings = settings
        self.import_config = import_config
        self.plugins = plugins
        self.max_body_size = settings.server.max_body_size
        self.adapters: dict[str, AdapterType] = plugins.adapters(settings)
        authenticators = plugins.authenticators(settings)
        limiters = plugins.rate_limiters(settings)
        caches = plugins.caches(settings)
        self.auth = AuthChain([a.obj for a in authenticators], disabled=settings.auth.disabled)
        self.rate_limiters: tuple[RateLimiter, ...] = tuple(r.obj for r in limiters)
        self.cache: Cache | None = caches[0].obj if caches else None
        self.listeners = tuple(plugins.request_finished_listeners())
        self.strategies = plugins.strategies(settings)
        """Routing strategy factories by name (``plugbay_register_strategies``)."""
        self.store = Store(settings.server.database)
        self.registry: Registry = self.store
        """The registry API (:class:`plugbay.Registry`): what plugins and the admin API use."""
        self.migrations = plugins.migrations()
        self.secrets = SecretBox.from_env()
        self.routes: dict[str, Route] = {}
        self.prices: dict[str, Price | None] = {}
        self.state: dict[str, Any] = {}
        """Per-gateway state for plugins, by plugin name (each one's ``GatewayView.state``)."""
        self.views = Views(self)
        """What the start-up and shutdown hooks get: each plugin, its own view."""
        self.background: set[asyncio.Task[Any]] = set()
        """Plugins' tasks (``GatewayView.run_in_background``), cancelled at shutdown."""
        self.snapshot = Snapshot({}, {})
        self.ready = False
        self.draining = False
        """Set on the first shutdown signal: ``/health/ready`` answers 503 from then on."""
        self.stats = Stats()
        """This worker's per-provider request statistics (``/health/detailed``)."""
        router = settings.router
        try:
            stores = plugins.breaker_stores(settings)
            breakers = open_store(router.breaker, settings.server.database, stores)
        except (ValueError, OSError) as exc:
            raise ConfigError(
                str(exc), source=settings.source, key="router.breaker.store"
            ) from None
        self.router = Router(router, breakers, self.stats)
        """Deployments' figures and breakers, retries and fallbacks (:mod:`plugbay._router`)."""
        self.router.resolve = lambda name: self.routes.get(name)
        self.routing = router.enabled
        """``[router] enabled``: whether requests go through :attr:`router`."""
        self.health_checks = HealthChecks(self)
        """Active health checks (``[router.health_checks]``), started with the gateway."""
        self.unavailable: dict[str, ProviderProblem] = {}
        """Providers in the registry that cannot serve, by name (``/health/ready`` shows them)."""
        self._blocked: dict[str, str] = {}
        """Models whose provider is in :attr:`unavailable`: model -> provider."""
        self._live: dict[str, LiveProvider] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retiring: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._loaded = False
        # The optional Lifecycle methods, looked up once (the registrars checked them); an
        # object registered twice (an authenticator that is also a limiter) is called once.
        components: dict[int, Registered] = {}
        for registered in (*authenticators, *limiters, *caches[:1]):
            components.setdefault(id(registered.obj), registered)
        self._starters = lifecycle_methods(components.values(), "start", self.views)
        self._watchers = lifecycle_methods(components.values(), "registry_changed", self.views)
        self.spend_watchers = lifecycle_methods(components.values(), "usage_recorded", self.views)
        """Registered objects told about every usage batch written (``usage_recorded``)."""
        self._closers = tuple(
            (r.obj, r.obj.aclose)
            for r in components.values()
            if getattr(r.obj, "aclose", None) is not None
        )
        self.usage = UsageRecorder(self)

    # --- lifecycle -----------------------------------------------------------------------------

    async def prepare_registry(self) -> None:
        """Open the registry, migrate it and import the config (idempotent; any process)."""
        if self.import_config:
            self.check_config()  # before opening anything: a bad config leaves nothing to close
        if self.store._db is None:
            await self.store.open()
            try:
                await plugin_tables.apply(self.store, self.migrations)
            except BaseException:
                await self.store.close()
                raise
        if self.import_config:
            await self.store.import_config(*self.config_entries())

    async def start(self) -> None:
        started = time.perf_counter()
        await self.prepare_registry()
        for start, view in self._starters:
            await start(view)
        await self.refresh()
        self.usage.start()
        self.health_checks.start()
        await self.plugins.startup(self.views)
        self._watcher = asyncio.create_task(self._watch(), name="plugbay-registry-watch")
        self.ready = True
        plugins = {info.name for info in self.plugins.list_plugins()}
        for table in sorted(set(self.settings.extra) - plugins):
            log.warning(
                "%s: [%s] names no loaded plugin (a typo, or a plugin not installed?)",
                self.settings.source or "config",
                table,
            )
        log.info(
            "ready in %.0f ms: %d models, %d providers",
            (time.perf_counter() - started) * 1e3,
            len(self.routes),
            len(self._live),
        )

    async def stop(self) -> None:
        self.ready = False
        await self.health_checks.stop()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._retiring:
            task.cancel()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.plugins.shutdown(self.views)
        await self._stop_background()
        await self.usage.stop()
        for obj, aclose in self._closers:
            try:
                await aclose()
            except Exception:
                log.exception("closing %r failed", obj)
        for live in self._live.values():
            await self._close_provider(live)
        self._live.clear()
        try:
            await self.router.breakers.aclose()
        except Exception:
            log.exception("closing the breaker store failed")
        await self.store.close()

    async def _stop_background(self) -> None:
        tasks = list(self.background)
        for task in tasks:
            task.cancel()
        if tasks:  # failures other than the cancellation were logged by the view
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                if await self.store.changed():
                    await self.refresh()
            except Exception:
                log.exception("reloading the registry failed; serving the previous state")

    # --- registry ------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload what changed in the registry, then tell the objects that watch it.

        Providers, models and prices reload when ``registry_version`` moved; registered objects
        with ``async def registry_changed(gateway)`` (the keys authenticator) are called on
        every change, including usage writes from other workers.
        """
        if await self.store.registry_version() != self.snapshot.version or not self._loaded:
            await self._reload()
        for registry_changed, view in self._watchers:
            await registry_changed(view)

    async def _reload(self) -> None:
        snapshot = await self.store.snapshot()
        live: dict[str, LiveProvider] = {}
        unavailable: dict[str, ProviderProblem] = {}
        for name, record in snapshot.providers.items():
            current = self._live.get(name)
            if current is not None and current.record == record:
                live[name] = current
                continue
            try:
                live[name] = self._build_provider(record)
            except (ConfigError, SecretKeyMissing, ValueError) as exc:
                unavailable[name] = ProviderProblem.of(exc, name)
        routes: dict[str, Route] = {}
        prices: dict[str, Price | None] = {}
        blocked: dict[str, str] = {}
        providers = {name: p.provider for name, p in live.items()}
        for name, model in snapshot.models.items():
            own_price = snapshot.prices.get(name) or model.settings.price
            route = build_route(self.router, model.settings, providers, self.strategies, own_price)
            wanted = [d.provider for d in deployments_of(model.settings)]
            missing = [p for p in wanted if p not in live and p not in unavailable]
            if missing:
                log.error(
                    "model %r refers to provider %r, which is not in the registry",
                    name,
                    missing[0],
                )
            if route is None:
                down = [p for p in wanted if p in unavailable]
                if down:
                    blocked[name] = down[0]
                continue
            routes[name] = route
            prices[name] = own_price or default_price(model.upstream_model)
        retired = [p for name, p in self._live.items() if live.get(name) is not p]
        self._report(unavailable, blocked)
        self.snapshot, self.routes, self._live, self.prices = snapshot, routes, live, prices
        self.unavailable, self._blocked = unavailable, blocked
        self._loaded = True
        for provider in retired:  # let requests still using it finish first
            task = asyncio.create_task(
                self._close_provider(provider, delay=provider.record.settings.timeout)
            )
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    def _report(self, unavailable: dict[str, ProviderProblem], blocked: dict[str, str]) -> None:
        """Log each provider that became unavailable (at start-up: every one), once."""
        for name in sorted(set(self.unavailable) - set(unavailable)):
            log.info("provider %r can serve again", name)
        for name, problem in sorted(unavailable.items()):
            if self.unavailable.get(name) == problem:
                continue
            models = sorted(m for m, p in blocked.items() if p == name)
            log.error(
                "provider %r cannot serve (%s): %s. Its models answer 503 meanwhile: %s",
                name,
                problem.code,
                problem.message,
                ", ".join(models) or "none",
            )

    def unavailable_models(self, provider: str) -> list[str]:
        return sorted(m for m, p in self._blocked.items() if p == provider)

    def provider(self, name: str) -> Provider:
        live = self._live.get(name)
        if live is None:
            raise ModelNotFound(name)
        return live.provider

    def price_of(self, model: str) -> Price | None:
        return self.prices.get(model)

    async def flush_usage(self) -> None:
        """Write buffered usage records now (reports call this first).

        A registry locked beyond its bound leaves them queued: the report is then a second
        or so behind, rather than failing.
        """
        try:
            await self.usage.flush()
        except RegistryBusy as exc:
            log.warning("usage records not written before a report: %s", exc.message)

    async def usage_recorded(self, batch: RecordedUsage) -> None:
        """Tell the objects that account spend in flight that ``batch`` is in the registry."""
        for usage_recorded, view in self.spend_watchers:
            try:
                await usage_recorded(view, batch)
            except Exception:
                log.exception("%r failed", usage_recorded)

    def resolve(self, model: str) -> Route:
        route = self.routes.get(model)
        if route is None:
            provider = self._blocked.get(model)
            if provider is not None:  # in the registry, but its provider cannot serve
                raise self.unavailable[provider].error(model, provider)
            raise ModelNotFound(model)
        return route

    # --- per request ---------------------------------------------------------------------------

    async def admit(self, ctx: RequestContext) -> None:
        """Ask every rate limiter; on a refusal, give back what the others granted."""
        granted: list[RateLimiter] = []
        try:
            for limiter in self.rate_limiters:
                await limiter.acquire(ctx)
                granted.append(limiter)
        except BaseException:
            for limiter in granted:
                await limiter.release(ctx)
            raise
        ctx.extra["plugbay.admitted"] = True

    async def finish(self, ctx: RequestContext) -> None:
        """Settle the rate limiters, record usage, tell the request-finished listeners."""
        usage = ctx.usage
        model = ctx.model
        cost = None
        if usage is not None and model is not None and ctx.cache_status != "hit":
            cost = _cost(usage, ctx.price if ctx.deployment else self.prices.get(model))
        elif ctx.cache_status == "hit":
            cost = 0.0
        ctx.cost_usd = cost  # limiters settle budgets to it
        await self.router.finished(ctx)
        if self.rate_limiters and ctx.extra.get("plugbay.admitted"):
            for limiter in self.rate_limiters:
                try:
                    await limiter.release(ctx)
                except Exception:
                    log.exception("rate limiter release failed")
        now = time.perf_counter()
        first = ctx.first_chunk_at
        principal = ctx.principal
        event = FinishedRequest(
            request_id=ctx.request_id,
            endpoint=ctx.endpoint,
            started_at=ctx.started_at,
            latency_ms=(now - ctx.started) * 1e3,
            time_to_first_chunk_ms=None if first is None else (first - ctx.started) * 1e3,
            status=ctx.status,
            error_code=ctx.error_code,
            key_id=principal.key_id if principal is not None else None,
            model=model,
            provider=ctx.provider,
            upstream_model=ctx.upstream_model,
            stream=ctx.stream,
            cache_status=ctx.cache_status,
            usage=usage,
            cost_usd=cost,
            deployment=ctx.deployment,
            attempts=ctx.attempts,
        )
        self.usage.record(event, bool(ctx.extra.get("plugbay.usage_estimated")))
        if cost and principal is not None and not ctx.spend_settled:
            principal.spend += cost  # budgets see it now; the registry catches up within 1 s
        for listener in self.listeners:
            try:
                result = listener(event, ctx)
                if result is not None and hasattr(result, "__await__"):
                    self._spawn(await_me_maybe(result))
            except Exception:
                log.exception("request-finished listener %r failed", listener)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
