"""``/health/ready`` turns 503 ``draining`` on SIGTERM while a real ``plugbay serve`` still
finishes a slow stream (``[server] drain_delay`` keeps its port open meanwhile)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.core.test_serve_lifecycle import CONFIG, with_fake
from tests.helpers import SERVE_TIMEOUT, Served

pytestmark = pytest.mark.slow

KEY = "sk-test-0123456789"
WORDS = [f"w{i}" for i in range(16)]
DRAIN = """
[server]
drain_delay = 3
"""


def slow_stream(url: str, started: threading.Event, received: list[bytes]) -> None:
    body = {
        "model": "house-model",
        "messages": [{"role": "user", "content": " ".join(WORDS)}],
        "stream": True,
        "x_chunk_delay": 0.5,  # 16 words: ~8 s, well past the signal and the drain delay
    }
    try:
        with httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
            timeout=SERVE_TIMEOUT,
        ) as answer:
            for chunk in answer.iter_bytes():
                received.append(chunk)
                started.set()
    finally:
        started.set()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ready_is_503_while_draining_a_slow_stream(tmp_path, workers):
    (tmp_path / "plugbay.toml").write_text(CONFIG + DRAIN)
    env = with_fake(tmp_path, PLUGBAY_MASTER_KEY=KEY)
    with Served("--workers", workers, cwd=tmp_path, env=env) as served:
        served.wait_ready()
        started, received = threading.Event(), []
        client = threading.Thread(target=slow_stream, args=(served.url, started, received))
        client.start()
        assert started.wait(SERVE_TIMEOUT)
        served.signal(signal.SIGTERM)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            ready = httpx.get(served.url + "/health/ready", timeout=SERVE_TIMEOUT)
            if ready.status_code == 503:
                break
            assert ready.status_code == 200
            assert time.monotonic() < deadline, served.stderr
            time.sleep(0.02)
        assert ready.json()["status"] == "draining"
        assert client.is_alive(), "the stream ended before the drain was seen"
        assert httpx.get(served.url + "/health/live").status_code == 200
        client.join(SERVE_TIMEOUT)
        code = served.wait()
    text = b"".join(received)
    assert text.endswith(b"data: [DONE]\n\n"), text[-200:]
    assert all(word.encode() in text for word in WORDS)  # drained in full, not cut
    assert code == 0, served.stderr
    assert "Traceback" not in served.stderr + served.stdout
