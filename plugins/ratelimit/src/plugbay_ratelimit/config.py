"""The ``[ratelimit]`` table of the config file.

```toml
[ratelimit]
backend = "file"            # "file" (default), "memory", or a plugin's ("redis")
default_max_tokens = 1024   # completion tokens assumed when a request sets no max_tokens
max_output_tokens = 32768   # budgets: the output reserved for a request without max_tokens
                            # on a model whose output limit is not known

[ratelimit.keys."*"]        # every key without limits of its own (admin API / key settings)
rpm = 600
tpm = 200000
max_parallel = 20

[ratelimit.keys.master]     # one key, by key id
rpm = 60

[ratelimit.models.gpt-4o]   # a model, all keys together; key_* apply to each key on it
rpm = 5000
tpm = 2000000
key_rpm = 100
key_tpm = 50000
max_output_tokens = 16384   # this model's output limit (else the shipped table's, else the above)
```

A key's own limits (``Principal.rpm``, ``tpm``, ``max_parallel``, set through the admin
API by the keys plugin) win over ``keys.<id>``, which wins over ``keys."*"``. A key's budget
is its ``Principal.max_budget``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from plugbay import ConfigError

if TYPE_CHECKING:
    from plugbay import Settings

__all__ = ["KeyLimits", "ModelLimits", "RateLimitConfig", "load_config"]


class KeyLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rpm: int | None = None
    """Requests per minute."""
    tpm: int | None = None
    """Tokens per minute (prompt and completion)."""
    max_parallel: int | None = None
    """Requests in flight at once."""


class ModelLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rpm: int | None = None
    """Requests per minute to this model, all keys together."""
    tpm: int | None = None
    """Tokens per minute to this model, all keys together."""
    key_rpm: int | None = None
    """Requests per minute to this model, for each key on its own."""
    key_tpm: int | None = None
    """Tokens per minute to this model, for each key on its own."""
    max_output_tokens: int | None = None
    """The most completion tokens the model makes for one request: what a budget reserves
    for a request that sets no ``max_tokens`` (default: the shipped table's limit for the
    upstream model, else ``[ratelimit] max_output_tokens``)."""


class RateLimitConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    backend: str = "file"
    """``file`` (workers of one machine share a memory-mapped file), ``memory`` (this
    process only) or a backend a plugin provides (``redis``: across machines)."""
    path: str | None = None
    """The ``file`` backend's state file; default: beside the registry database."""
    slots: int = 16384
    """Records in the ``memory``/``file`` table (one per key, model and key+model in use)."""
    default_max_tokens: int = 1024
    """Completion tokens the estimate assumes for a request without ``max_tokens``."""
    max_output_tokens: int = 32768
    """Completion tokens a budget reserves for a request without ``max_tokens`` to a model
    whose output limit is neither configured nor in the shipped table."""
    leases: int = 4096
    """Requests one worker may have holding a slot or money at once (``memory``/``file``)."""
    keys: dict[str, KeyLimits] = msgspec.field(default_factory=dict)
    """Limits by key id; ``"*"`` applies to every key without an entry."""
    models: dict[str, ModelLimits] = msgspec.field(default_factory=dict)
    """Limits by public model name; ``"*"`` applies to every model without an entry."""


def load_config(settings: Settings) -> RateLimitConfig:
    config = settings.plugin_config("ratelimit", RateLimitConfig)
    source = settings.source
    if config.slots < 64:
        raise ConfigError("must be at least 64", source=source, key="ratelimit.slots")
    for field in ("default_max_tokens", "max_output_tokens"):
        if getattr(config, field) < 0:
            raise ConfigError("must not be negative", source=source, key=f"ratelimit.{field}")
    if config.leases < 16:
        raise ConfigError("must be at least 16", source=source, key="ratelimit.leases")
    for name, limits in config.models.items():
        if limits.max_output_tokens is not None and limits.max_output_tokens < 0:
            raise ConfigError(
                "must not be negative",
                source=source,
                key=f"ratelimit.models.{name}.max_output_tokens",
            )
    return config
