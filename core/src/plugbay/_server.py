"""Running the app under uvicorn: one process, or N workers sharing the port."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from typing import Any

import uvicorn
from litestar import Litestar

from plugbay.app import create_app
from plugbay.auth import hash_key, new_key
from plugbay.default_plugins.master_key import MASTER_KEY_HASH
from plugbay.gateway import Gateway
from plugbay.plugins import PluginManager
from plugbay.settings import Settings, load_settings

log = logging.getLogger("plugbay")

_ARGS_ENV = "_PLUGBAY_SERVE_ARGS"


def settings_with(settings: Settings, overrides: dict[str, Any]) -> Settings:
    server = settings.server
    for key in ("host", "port", "workers", "log_level"):
        if overrides.get(key) is not None:
            setattr(server, key, overrides[key])
    if overrides.get("no_auth"):
        settings.auth.disabled = True
    return settings


async def prepare(settings: Settings, manager: PluginManager) -> str | None:
    """Once per ``serve``, before any worker: migrate, import the config, make a master key.

    Returns a newly created master key (to be shown once), else ``None``.
    """
    gateway = Gateway(settings, manager)
    try:
        await gateway.prepare_registry()
        if settings.auth.master_key or settings.auth.disabled:
            return None
        key = new_key("pb-master-")
        created = await gateway.store.set_meta(MASTER_KEY_HASH, hash_key(key), only_if_absent=True)
        return key if created else None
    finally:
        await gateway.store.close()


def _uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    server = settings.server
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_level=server.log_level,
        timeout_graceful_shutdown=(server.graceful_timeout),
        timeout_keep_alive=30,
        backlog=4096,
        proxy_headers=False,  # nothing here reads the client address
        **extra,
    )


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def run(
    settings: Settings,
    config_path: str | None,
    overrides: dict[str, Any],
    manager: PluginManager | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests and streams finish first."""
    if settings.server.workers == 1:
        app = create_app(settings, manager=manager)
        app.on_startup.append(_freeze_gc)
        server = uvicorn.Server(_uvicorn_config(app, settings))
        # uvicorn re-raises the signal that stopped it once it has shut down gracefully,
        # to the handler found at start: with the default one the process would die of
        # SIGTERM (-15) or KeyboardInterrupt. A graceful stop exits 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _ignore)
        server.run()
        if not server.started:
            sys.exit(3)  # what uvicorn.run does: start-up failed (port taken...)
        return
    os.environ[_ARGS_ENV] = json.dumps({"config": config_path, "overrides": overrides})
    uvicorn.run(
        "plugbay._server:worker_app",
        factory=True,
        workers=settings.server.workers,
        **{k: v for k, v in vars(_uvicorn_config(None, settings)).items() if k in _PASSED_TO_RUN},
    )


_PASSED_TO_RUN = {
    "proxy_headers",
    "host",
    "port",
    "loop",
    "http",
    "lifespan",
    "access_log",
    "log_level",
    "timeout_graceful_shutdown",
    "timeout_keep_alive",
    "backlog",
}


def worker_app() -> Litestar:
    """The app factory each worker process calls (``--workers N``)."""
    args = json.loads(os.environ[_ARGS_ENV])
    settings = settings_with(load_settings(args["config"]), args["overrides"])
    app = create_app(settings)
    app.on_startup.append(_freeze_gc)
    return app


def _ignore(signum: int, frame: object) -> None:
    log.debug("signal %d after shutdown ignored", signum)


def _freeze_gc() -> None:
    # Objects alive after start-up live for the process; keep the collector off them
    # (cuts p99 latency several-fold on the request path).
    gc.collect()
    gc.freeze()


def prepare_sync(settings: Settings, manager: PluginManager) -> str | None:
    return asyncio.run(prepare(settings, manager))
