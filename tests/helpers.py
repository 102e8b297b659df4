"""Helpers for tests that run ``plugbay`` as a real subprocess (no plugin imports here)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SERVE_TIMEOUT = 90.0  # a start with a busy machine, cold caches and 2 workers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plugbay_exe(python: str | Path = sys.executable) -> str:
    """The ``plugbay`` console script installed beside ``python``."""
    exe = Path(python).parent / "plugbay"
    assert exe.exists(), f"no plugbay script beside {python}"
    return str(exe)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus any PLUGBAY_* the developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGBAY_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# What importing plugbay, a plugin's hookimpls or the pytest plugin must not load (issue 8): the
# gateway's and CLI's dependencies, imported only when those run.
HEAVY_MODULES = ("litestar", "aiohttp", "httpx", "cryptography", "click", "uvicorn", "aiosqlite")


def modules_after(statement: str, python: str | Path = sys.executable) -> set[str]:
    """``sys.modules`` after running ``statement`` in a fresh interpreter."""
    code = f"import sys\n{statement}\nprint(*sys.modules, sep='\\n')"
    result = subprocess.run(
        [python, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def heavy_modules(modules: set[str], heavy: tuple[str, ...] = HEAVY_MODULES) -> list[str]:
    """The top-level packages of ``heavy`` that ``modules`` includes."""
    return sorted({name.partition(".")[0] for name in modules} & set(heavy))


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    python: str | Path = sys.executable,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [plugbay_exe(python), *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Served:
    """``plugbay serve`` in a subprocess; output goes to files so pipes never fill."""

    def __init__(
        self,
        *args: str,
        cwd: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        python: str | Path = sys.executable,
        pass_port: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{self.port}"
        self._out = cwd / f"serve-{self.port}.out"
        self._err = cwd / f"serve-{self.port}.err"
        command = [plugbay_exe(python), "serve", *args]
        if pass_port:
            command += ["--port", str(self.port)]
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env or clean_env(), stdout=out, stderr=err
            )

    @property
    def stdout(self) -> str:
        return self._out.read_text()

    @property
    def stderr(self) -> str:
        return self._err.read_text()

    def wait_ready(self, timeout: float = SERVE_TIMEOUT) -> Served:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            try:
                if httpx.get(self.url + "/health/ready", timeout=10).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve did not become ready\nstderr:\n{self.stderr}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = SERVE_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
