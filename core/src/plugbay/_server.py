"""Running the app under uvicorn: one process, or N workers sharing the port."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from litestar import Litestar
from uvicorn.supervisors.multiprocess import Multiprocess

from plugbay import _protocol
from plugbay._app import create_app
from plugbay._auth import hash_key, new_key
from plugbay._default_plugins.master_key import MASTER_KEY_HASH, MASTER_KEY_PREFIX
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay._settings import Settings, load_settings

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


class Prepared:
    """What :func:`prepare` found: a master key it created (shown once) and a model to try."""

    def __init__(self, created_key: str | None, model: str | None) -> None:
        self.created_key, self.model = created_key, model


def check_config(settings: Settings, manager: PluginManager) -> None:
    """Raise :class:`ConfigError` for entries no installed adapter can serve (opens nothing)."""
    Gateway(settings, manager).check_config()


async def prepare(settings: Settings, manager: PluginManager) -> Prepared:
    """Once per ``serve``, before any worker: migrate, import the config, make a master key.

    Called once the listening socket is bound, so a start that cannot serve (port in use)
    creates no key.
    """
    gateway = Gateway(settings, manager)
    try:
        await gateway.prepare_registry()
        models = sorted((await gateway.store.snapshot()).models)
        configured = [m.name for m in gateway.config_entries()[1]]
        model = next(iter(configured), None) or next(iter(models), None)
        if settings.auth.master_key or settings.auth.disabled:
            return Prepared(None, model)
        key = new_key(MASTER_KEY_PREFIX)
        created = await gateway.store.set_meta(MASTER_KEY_HASH, hash_key(key), only_if_absent=True)
        return Prepared(key if created else None, model)
    finally:
        await gateway.store.close()


def _uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    server = settings.server
    config = uvicorn.Config(
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
        # A worker answers the supervisor's pings once it has imported everything; on a
        # loaded machine that can take longer than uvicorn's 5 s, and the worker would be
        # killed and started again (and again) instead.
        timeout_worker_healthcheck=60,
        **extra,
    )
    if config.http == "httptools":
        _protocol.configure(
            config, server.header_timeout, server.body_timeout, server.min_body_rate
        )
    return config


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


LOG_FORMAT = "%(levelname)s:     %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """plugbay's log lines, the same in the ``serve`` process and in every worker."""
    logging.basicConfig(level=settings.server.log_level.upper(), format=LOG_FORMAT)


STARTUP_FAILURE = 3  # uvicorn's exit status when it could not start (port taken...)


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound before anything is created; exits 3 when it cannot be."""
    config = _uvicorn_config(None, settings)
    try:
        return config.bind_socket()
    except SystemExit:  # uvicorn has logged why ("[Errno 98] Address already in use")
        sys.exit(STARTUP_FAILURE)


def run(
    settings: Settings,
    config_path: str | None,
    overrides: dict[str, Any],
    manager: PluginManager | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests and streams finish first.

    A second signal while shutting down stops at once: open connections are cut (their
    requests end as client disconnects, so their usage is still recorded), and the process
    exits with 128 + the signal number.
    """
    sock = sock or bind(settings)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully, to the
    # handler found at start: with the default one the process would die of SIGTERM (-15)
    # or KeyboardInterrupt. A graceful stop exits 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    if settings.server.workers == 1:
        app = create_app(settings, manager=manager)
        app.on_startup.append(_freeze_gc)
        server = _Server(_uvicorn_config(app, settings))
        server.plugbay_gateway = app.state.gateway
        server.run(sockets=[sock])
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        if server.forced is not None:
            sys.exit(128 + server.forced)
        return
    os.environ[_ARGS_ENV] = json.dumps({"config": config_path, "overrides": overrides})
    config = _uvicorn_config(
        "plugbay._server:worker_app", settings, factory=True, workers=settings.server.workers
    )
    supervisor = _Supervisor(config, sockets=[sock])
    supervisor.run()
    if supervisor.forced is not None:
        sys.exit(128 + supervisor.forced)


def worker_app() -> Litestar:
    """The app factory each worker process calls (``--workers N``)."""
    args = json.loads(os.environ[_ARGS_ENV])
    settings = settings_with(load_settings(args["config"]), args["overrides"])
    configure_logging(settings)  # a spawned worker starts with logging unconfigured
    app = create_app(settings)
    app.on_startup.append(_freeze_gc)
    # Called inside uvicorn's Server.serve, whose signal handler is in place by now: wrap it.
    server = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    if isinstance(server, uvicorn.Server):
        server.plugbay_gateway = app.state.gateway  # type: ignore[attr-defined]
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, functools.partial(_handle_exit, server, (signal.SIGINT,)))
    return app


def _ignore(signum: int, frame: object) -> None:
    log.debug("signal %d after shutdown ignored", signum)


class _Server(uvicorn.Server):
    forced: int | None = None
    plugbay_gateway: Gateway | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        _handle_exit(self, (signal.SIGINT, signal.SIGTERM), sig, frame)


def _handle_exit(
    server: uvicorn.Server, forcing: tuple[int, ...], sig: int, frame: FrameType | None
) -> None:
    """The first signal stops gracefully; a second one (of ``forcing``) stops now.

    A worker of ``--workers N`` takes only a second SIGINT as "now": its supervisor sends
    SIGTERM after the SIGINT a terminal's Ctrl-C already gave it.
    """
    gateway: Gateway | None = getattr(server, "plugbay_gateway", None)
    if gateway is not None and not gateway.draining and not server.should_exit:
        gateway.draining = True  # /health/ready answers 503 from now on
        delay = gateway.settings.server.drain_delay
        if delay > 0:
            log.info("draining: still serving for %.1f s, then stopping", delay)
            loop = asyncio.get_running_loop()
            loop.call_soon_threadsafe(loop.call_later, delay, _begin_shutdown, server)
            return
    if not server.should_exit or sig not in forcing:
        server.should_exit = True
        return
    if getattr(server, "forced", None) is not None:
        return
    server.forced = sig  # type: ignore[attr-defined]
    log.warning("%s again: stopping now, cutting the requests in flight", signal.Signals(sig).name)
    loop = asyncio.get_running_loop()
    loop.call_soon_threadsafe(_cut_connections, server)
    # Whatever still runs after the cut gets a few seconds, then uvicorn's own forced exit.
    loop.call_later(5.0, setattr, server, "force_exit", True)


def _begin_shutdown(server: uvicorn.Server) -> None:
    server.should_exit = True


def _cut_connections(server: uvicorn.Server) -> None:
    for connection in list(server.server_state.connections):
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.abort()  # the app sees http.disconnect: streams stop, usage is kept


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor; a second SIGINT/SIGTERM is passed on to the workers as
    SIGINT, their cue to stop now."""

    forced: int | None = None

    def run(self) -> None:
        log.info("started the supervisor process [%d]", os.getpid())
        self.init_processes()
        while not self.should_exit.wait(0.5):
            self.handle_signals()
            self.keep_subprocess_alive()
        self.signal_queue.clear()
        self.terminate_all()
        for process in self.processes:
            while process.process.is_alive():
                process.process.join(0.2)
                if self.signal_queue and self.forced is None:
                    self.forced = self.signal_queue[0]
                    log.warning("%s again: stopping now", signal.Signals(self.forced).name)
                    for other in self.processes:
                        if other.process.is_alive() and other.pid is not None:
                            os.kill(other.pid, signal.SIGINT)
        if any(process.exitcode for process in self.processes) and self.forced is None:
            log.warning("a worker exited with an error")


def _freeze_gc() -> None:
    # Objects alive after start-up live for the process; keep the collector off them
    # (cuts p99 latency several-fold on the request path).
    gc.collect()
    gc.freeze()


def prepare_sync(settings: Settings, manager: PluginManager) -> Prepared:
    return asyncio.run(prepare(settings, manager))
