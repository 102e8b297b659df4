"""Configuration: msgspec Structs, loaded from TOML with ``${VAR}`` taken from the environment.

A bad file is reported as ``<file>: <key>: <what is wrong>`` by :class:`ConfigError`; the
CLI prints that line and exits, never a traceback.
"""

from __future__ import annotations

import builtins
import copy
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from plugbay._envsubst import (
    ConfigError,
    Path_,
    convert_filled,
    expand,
    filled_paths,
    plain,
)
from plugbay._pricing import Price
from plugbay._router.settings import DeploymentSettings, RetrySettings, RouterSettings
from plugbay._validation import describe, headers_problem, name_problem
from plugbay.schemas.models import Capabilities

__all__ = [
    "AuthSettings",
    "ConfigError",
    "ModelSettings",
    "PluginSettings",
    "ProviderSettings",
    "ServerSettings",
    "Settings",
    "load_settings",
]

DEFAULT_CONFIG = "plugbay.toml"
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
"""64 MiB: a whole batch of 2,048 embeddings of 3,072 dimensions in base64 is 33.5 MB."""
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
T = TypeVar("T")


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = 4000
    """TCP port to listen on."""
    workers: int = 1
    """Worker processes sharing the port."""
    database: str = "plugbay.db"
    """SQLite file holding the registry, relative to the working directory."""
    max_body_size: int = 20 * 1024 * 1024
    """Largest request body accepted, in bytes; larger ones get 413."""
    log_level: str = "info"
    """Logging level: debug, info, warning or error."""
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    """What carries upstream requests under the httpx API: ``aiohttp``'s pool (fastest), or
    httpx's own (HTTP/2, proxies from the environment)."""
    graceful_timeout: int | None = None
    """Seconds to let in-flight requests finish on shutdown; ``None`` waits for all."""
    drain_delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """Seconds to keep accepting requests after the first SIGTERM/SIGINT, with
    ``/health/ready`` answering 503 ``draining``, so a load balancer takes the node out
    before its port closes; then the graceful shutdown starts."""
    header_timeout: float = 10.0
    """Seconds a client may take to send a request's line and headers; then 408 and closed."""
    body_timeout: float = 30.0
    """Seconds of grace for a request body, after which it must keep up ``min_body_rate``."""
    min_body_rate: float = 1024.0
    """Bytes a second a request body must average after ``body_timeout``; slower: 408."""


class AuthSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    master_key: str | None = None
    """A bearer key accepted on every endpoint (``PLUGBAY_MASTER_KEY`` wins over it)."""
    disabled: bool = False
    """Accept requests without any credential (``serve --no-auth``). Logged at start-up."""


class PluginSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: list[str] | None = None
    """Allow-list of entry-point names to load; ``None`` loads all, ``[]`` none."""
    disabled: list[str] = msgspec.field(default_factory=list)
    """Entry-point names never to load."""


class ProviderSettings(msgspec.Struct, kw_only=True):
    """A ``[[providers]]`` entry. Keys not listed here are the adapter's ``options``."""

    name: str
    """Unique name models refer to."""
    type: str
    """The adapter type, registered by a plugin (``openai``, ``echo``...)."""
    base_url: str | None = None
    """The upstream's base URL; adapters have their own default."""
    api_key: str | None = None
    """The provider's credential; never logged, never returned by the API."""
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    """Extra headers sent with every upstream request."""
    timeout: float = 600.0
    """Seconds a non-streaming call may take in all, from sending the request to the
    answer's last byte; for streams, the default of the two stream timeouts below."""
    first_byte_timeout: PositiveSeconds | None = None
    """Seconds a stream may take to send its first byte; ``None``: ``timeout``."""
    idle_timeout: PositiveSeconds | None = None
    """Seconds a stream may stay silent between two reads; ``None``: ``timeout``."""
    connect_timeout: float = 10.0
    """Seconds to wait for a connection."""
    max_response_size: Annotated[int, msgspec.Meta(gt=0)] = DEFAULT_MAX_RESPONSE_SIZE
    """Largest upstream answer read, in bytes (for a stream: the largest single event);
    a larger one is refused with 502 as soon as it is seen, never read whole."""
    max_connections: int = 100
    """Size of the provider's connection pool."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    """Adapter-specific settings (every other key of the entry)."""

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"ProviderSettings(name={self.name!r}, type={self.type!r})"


_PROVIDER_FIELDS = frozenset(ProviderSettings.__struct_fields__) - {"options"}


class ModelSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A ``[[models]]`` entry: one provider, or several ``deployments``."""

    name: str
    """The public name clients use."""
    provider: str = ""
    """The provider serving it; with ``deployments``, always the first one's."""
    upstream_model: str | None = None
    """The provider's name for it; defaults to ``name``."""
    price: Price | None = None
    """USD per million tokens (``input``, ``output``, ``cached_input``); overrides the shipped
    price table."""
    capabilities: Capabilities | None = None
    """What the model can do (``chat``, ``embeddings``, ``tools``, ``vision``, ``streaming``);
    each field set here overrides what the adapter declares."""
    context_window: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """The model's context window in tokens, shown by ``/v1/models``."""
    tags: list[str] = msgspec.field(default_factory=list)
    """Task tags (``coding``, ``cheap``...): ``POST /v1/models/recommend`` matches its
    ``task`` against them."""
    deployments: list[DeploymentSettings] = msgspec.field(default_factory=list)
    """Where it is served, when that is more than ``provider``: see the routing docs."""
    strategy: str = "priority"
    """How a request picks a deployment: ``priority``, ``weighted``, ``least-busy``,
    ``latency``, ``cost``, or a strategy a plugin registers."""
    retry: RetrySettings | None = None
    """Its retries; ``None``: ``[router.retry]``."""
    fallbacks: list[str] = msgspec.field(default_factory=list)
    """Models tried in turn when every attempt here failed in a retryable way."""
    context_window_fallbacks: list[str] = msgspec.field(default_factory=list)
    """Models tried when the upstream refuses the prompt as too long for this one."""
    content_filter_fallbacks: list[str] = msgspec.field(default_factory=list)
    """Models tried when an answer here ends with ``finish_reason: content_filter``
    (non-streaming requests)."""

    def __post_init__(self) -> None:
        if self.deployments:
            self.provider = self.deployments[0].provider
            names = set()
            for deployment in self.deployments:
                upstream = deployment.model or self.upstream
                name = deployment.name or f"{deployment.provider}/{upstream}"
                if name in names:
                    raise ValueError(f"two deployments are named {name!r}")
                names.add(name)
        elif not self.provider:
            raise ValueError("a model needs a `provider` or `deployments`")

    @property
    def upstream(self) -> str:
        return self.upstream_model or self.name


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    plugins: PluginSettings = msgspec.field(default_factory=PluginSettings)
    providers: list[ProviderSettings] = msgspec.field(default_factory=list)
    models: list[ModelSettings] = msgspec.field(default_factory=list)
    router: RouterSettings = msgspec.field(default_factory=RouterSettings)
    extra: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """Top-level tables this file holds for plugins (``[ratelimit]``...), by name."""
    source: str | None = None
    """The file these settings came from; ``None`` for the embedded default."""
    extra_filled: dict[str, list[Path_]] = msgspec.field(default_factory=dict)
    """Where ``${VAR}`` filled a value in :attr:`extra`, by table: those strings may fill a
    number or boolean field in :meth:`plugin_config`, as in the core's tables."""

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """The ``[name]`` table of the config file, for the plugin of that name, as decoded."""
        return self.extra.get(name, {})

    def plugin_config(self, name: str, type: builtins.type[T]) -> T:
        """The ``[name]`` table validated into ``type`` (a msgspec Struct), as the core's own.

        Strict, except that a ``${VAR}`` value may fill a number or boolean field; a missing
        table is an empty one (so ``type`` needs a default for every field). A bad value raises
        :class:`ConfigError` keyed like the core's: ``plugbay.toml: cache.max_entries:
        Expected `int`, got `str```.

        .. versionadded:: 0.1
        """
        table = self.extra.get(name, {})
        paths = self.extra_filled.get(name, ())
        try:
            return convert_filled(copy.deepcopy(table), type, paths)
        except msgspec.ValidationError as exc:
            param, message = describe(exc)
            if param is not None and "[...]" in param:
                from plugbay._config_keys import name_dict_keys

                param = name_dict_keys(table, type, paths, param, convert_filled)
            raise ConfigError(
                message, source=self.source, key=f"{name}.{param}" if param else name
            ) from None


_CORE_TABLES = frozenset({"server", "auth", "plugins", "providers", "models", "router"})
_SERVING_TABLES = frozenset({"auth", "providers", "models"})


def _convert(data: dict[str, Any]) -> Settings:
    return convert_filled(data, Settings, list(filled_paths(data)))


def parse_settings(
    data: dict[str, Any],
    *,
    source: str,
    env: Mapping[str, str] | None = None,
    registry_only: bool = False,
) -> Settings:
    """Validate a decoded config document (``source`` names it in errors).

    ``registry_only`` leaves out what only serving needs (``[auth]``, ``[[providers]]``,
    ``[[models]]``), so that a ``${VAR}`` there need not be set to work on the registry.
    """
    env = os.environ if env is None else env
    data = expand(data, "", env, source, _SERVING_TABLES if registry_only else frozenset())
    extra = {}
    filled: dict[str, list[Path_]] = {}
    for name in list(data):
        if name in _CORE_TABLES:
            continue
        if not isinstance(data[name], dict):
            raise ConfigError(
                "unknown setting (plugin settings go in a [table] of their own)",
                source=source,
                key=name,
            )
        table = data.pop(name)
        paths = list(filled_paths(table))
        if paths:
            filled[name] = paths
        extra[name] = plain(table)
    providers = data.get("providers")
    if isinstance(providers, list):
        data["providers"] = [split_options(entry) for entry in providers]
    try:
        settings = _convert(data)
    except msgspec.ValidationError as exc:
        key, message = describe(exc)
        raise ConfigError(message, source=source, key=key) from None
    _check_references(settings, source)
    settings.extra = extra
    settings.extra_filled = filled
    settings.source = source
    return settings


def split_options(entry: Any) -> Any:
    """A provider entry with its adapter-specific keys moved under ``options``."""
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    options = dict(entry.pop("options", None) or {})
    for key in [k for k in entry if k not in _PROVIDER_FIELDS]:
        options[key] = entry.pop(key)
    entry["options"] = options
    return entry


def provider_from_dict(data: dict[str, Any], *, source: str | None = None) -> ProviderSettings:
    """Validate one provider entry in the config file's shape (the admin API's too)."""
    try:
        provider = msgspec.convert(split_options(data), ProviderSettings)
    except msgspec.ValidationError as exc:
        key, message = describe(exc)
        if key is not None and key.startswith("options."):
            key = key.removeprefix("options.")
        raise ConfigError(message, source=source, key=key) from None
    check_provider(provider, source=source)
    return provider


def provider_to_dict(provider: ProviderSettings) -> dict[str, Any]:
    """The inverse of :func:`provider_from_dict`: options flattened back in."""
    data: dict[str, Any] = msgspec.to_builtins(provider)
    data.update(data.pop("options", {}))
    return data


def check_provider(provider: ProviderSettings, key: str = "", source: str | None = None) -> None:
    """Raise :class:`ConfigError` for a provider entry that could never be served."""
    prefix = f"{key}." if key else ""
    problem = name_problem("provider", provider.name)
    if problem is not None:
        raise ConfigError(problem, source=source, key=f"{prefix}name")
    bad = headers_problem(provider.headers)
    if bad is not None:
        raise ConfigError(bad[1], source=source, key=f"{prefix}headers.{bad[0]}")


def _check_references(settings: Settings, source: str) -> None:
    tables: tuple[tuple[str, Sequence[ProviderSettings | ModelSettings]], ...] = (
        ("providers", settings.providers),
        ("models", settings.models),
    )
    for kind, entries in tables:
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            if isinstance(entry, ProviderSettings):
                check_provider(entry, f"{kind}[{index}]", source)
            problem = name_problem(kind.rstrip("s"), entry.name)
            if problem is not None:
                raise ConfigError(problem, source=source, key=f"{kind}[{index}].name")
            if entry.name in seen:
                raise ConfigError(
                    f"duplicate name {entry.name!r}", source=source, key=f"{kind}[{index}].name"
                )
            seen.add(entry.name)
    if settings.server.workers < 1:
        raise ConfigError("must be at least 1", source=source, key="server.workers")
    server = settings.server
    for field in ("max_body_size", "header_timeout", "body_timeout", "min_body_rate"):
        if getattr(server, field) <= 0:
            raise ConfigError("must be positive", source=source, key=f"server.{field}")


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    registry_only: bool = False,
) -> Settings:
    """Load the config file at ``path``, or ``./plugbay.toml`` if present, or the defaults.

    Environment overrides: ``PLUGBAY_MASTER_KEY``, ``PLUGBAY_PLUGINS`` and
    ``PLUGBAY_DISABLE_PLUGINS`` (comma-separated entry-point names). ``registry_only``: see
    :func:`parse_settings`.
    """
    env = os.environ if env is None else env
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = DEFAULT_CONFIG
    if path is None:
        settings = Settings()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(exc.strerror or str(exc), source=source) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", source=source) from None
        settings = parse_settings(data, source=source, env=env, registry_only=registry_only)
    return apply_environment(settings, env)


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def apply_environment(settings: Settings, env: Mapping[str, str]) -> Settings:
    if env.get("PLUGBAY_MASTER_KEY"):
        settings.auth.master_key = env["PLUGBAY_MASTER_KEY"]
    if "PLUGBAY_PLUGINS" in env:
        settings.plugins.enabled = _names(env["PLUGBAY_PLUGINS"])
    if env.get("PLUGBAY_DISABLE_PLUGINS"):
        settings.plugins.disabled = [
            *settings.plugins.disabled,
            *_names(env["PLUGBAY_DISABLE_PLUGINS"]),
        ]
    return settings
