"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``."""

from __future__ import annotations

import glob

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]

PLUGINS = sorted(glob.glob("plugins/*"))
TEST_DEPS = [
    "pytest>=8.3",
    "anyio>=4.4",
    "openai>=1.50",
    "anthropic>=0.40",
    "opentelemetry-instrumentation-httpx>=0.50b0",
    "opentelemetry-sdk>=1.29",
]


def _install_workspace(session: nox.Session) -> None:
    args = ["-e", "core"]
    for plugin in PLUGINS:
        args += ["-e", plugin]
    session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, everything installed (tox runs each plugin alone)."""
    _install_workspace(session)
    session.install(*TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.8")
    paths = ["core", "plugins", "tests", "bench", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on core."""
    session.install("mypy>=1.13", "pytest>=8.3", "openai>=1.50", "-e", "core")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """plugbay vs. the bare upstream and a bare pass-through, one run: throughput, CPU per
    request, latency, streaming, memory.

    Needs ``wrk`` (``apt-get install -y wrk``). Only runtime dependencies are installed, as a
    deployment would have them (the pass-through uses plugbay's own: Litestar, aiohttp,
    uvicorn). Extra arguments go to ``bench/run.py`` (``--rounds``, ``--hotpath-only``...).
    """
    _install_workspace(session)
    session.install("httpx")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(name="bench-policies")
def bench_policies(session: nox.Session) -> None:
    """Per-decision cost of ratelimit and cache (``-- --redis redis://...`` adds Redis)."""
    _install_workspace(session)
    session.run("python", "bench/policies.py", *session.posargs)
