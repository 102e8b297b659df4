"""``plugbay serve`` as a real subprocess, for tests of workers, signals and the CLI.

:func:`install_plugin` writes a module and a ``.dist-info`` beside it into a directory: put
that directory on ``PYTHONPATH`` and ``importlib.metadata`` finds the module's ``plugbay``
entry point in the subprocess (every worker) like an installed plugin's, without packaging.
"""

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

__all__ = ["READY_TIMEOUT", "ServeProcess", "free_port", "install_plugin"]

READY_TIMEOUT = 60.0
"""Seconds :meth:`ServeProcess.start` waits for ``/health/ready``: a quiet machine needs one
or two; one whose cores are busy with other work needs many more (each worker imports the
gateway and its plugins). Reaching it is a failure, so it costs nothing when all is well."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_plugin(site: str | Path, name: str, source: str) -> Path:
    """Make ``source`` importable from ``site`` as ``name``, with a ``plugbay`` entry point."""
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(source, encoding="utf-8")
    info = site / f"{name}-0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[plugbay]\n{name} = {name}\n")
    return site


class ServeProcess:
    """Run ``plugbay serve`` with ``args`` in ``cwd``; output goes to ``cwd/serve.log``."""

    def __init__(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.cwd = cwd
        self.log_path = cwd / f"serve-{self.port}.log"
        self.args = [
            sys.executable,
            "-m",
            "plugbay",
            "serve",
            "--port",
            str(self.port),
            *args,
        ]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def start(self, timeout: float = READY_TIMEOUT, *, ready_workers: int = 1) -> ServeProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        try:
            self.wait_ready(timeout, workers=ready_workers)
        except BaseException:
            self.stop()  # not left serving (and loading the machine) after a failed test
            raise
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT, workers: int = 1) -> set[int]:
        """Poll ``/health/ready`` until ``workers`` distinct worker pids have answered."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        pids: set[int] = set()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.output}")
            try:
                # a new connection each time, maybe another worker; a worker busy starting
                # up on a loaded machine may take seconds to answer
                with httpx.Client(timeout=10) as client:
                    answer = client.get(self.url + "/health/ready")
                if answer.status_code == 200:
                    pids.add(answer.json()["pid"])
                    if len(pids) >= workers:
                        return pids
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"serve not ready ({len(pids)} workers seen):\n{self.output}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.signal(signal.SIGTERM)
        try:
            return self.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
