"""``plugbay serve`` for real, with the first-party plugins installed."""

from __future__ import annotations

import re
import signal
import threading
import time

import httpx
import openai
import pytest

from plugbay.testing import Reply, ScriptedUpstream
from tests.helpers import Served, clean_env

pytestmark = pytest.mark.slow

KEY = re.compile(r"^    (pb-master-\S+)$", re.MULTILINE)


def test_serve_with_no_config_answers_from_echo(tmp_path):
    with Served(cwd=tmp_path, env=clean_env()) as served:
        served.wait_ready()
        key = KEY.search(served.stdout)[1]
        client = openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)
        with client:
            answer = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "hello there"}]
            )
            assert answer.choices[0].message.content == "hello there"
            assert answer.model == "echo"
            text = "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(
                    model="echo",
                    messages=[{"role": "user", "content": "streamed word by word"}],
                    stream=True,
                )
            )
            assert text == "streamed word by word"
            vector = client.embeddings.create(model="echo", input="x").data[0].embedding
            assert len(vector) == 16
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(
                    base_url=served.url + "/v1", api_key="sk-wrong-0000000000", max_retries=0
                ).models.list()
        assert (tmp_path / "plugbay.db").exists()


def slow_config(upstream: ScriptedUpstream) -> str:
    return f"""
[auth]
master_key = "sk-test-0123456789"

[[providers]]
name = "slow-echo"
type = "echo"
chunk_delay = 0.2

[[providers]]
name = "up"
type = "openai"
base_url = "{upstream.base_url}"
api_key = "sk-upstream"

[[models]]
name = "slow-echo"
provider = "slow-echo"

[[models]]
name = "relayed"
provider = "up"
"""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_requests_and_streams(tmp_path, workers, signum):
    with ScriptedUpstream() as upstream:
        upstream.script(Reply.json(_completion(), delay=1.0))
        (tmp_path / "plugbay.toml").write_text(slow_config(upstream))
        args = ["--workers", str(workers)] if workers > 1 else []
        with Served(*args, cwd=tmp_path, env=clean_env()) as served:
            served.wait_ready()
            headers = {"authorization": "Bearer sk-test-0123456789"}
            results: dict[str, object] = {}
            first_chunk = threading.Event()

            def stream() -> None:
                words = " ".join(f"w{i}" for i in range(8))  # 8 x 0.2 s
                with httpx.stream(
                    "POST",
                    served.url + "/v1/chat/completions",
                    json={
                        "model": "slow-echo",
                        "messages": [{"role": "user", "content": words}],
                        "stream": True,
                    },
                    headers=headers,
                    timeout=30,
                ) as response:
                    body = b""
                    for part in response.iter_raw():
                        body += part
                        first_chunk.set()
                    results["stream"] = body

            def slow() -> None:
                response = httpx.post(
                    served.url + "/v1/chat/completions",
                    json={"model": "relayed", "messages": [{"role": "user", "content": "x"}]},
                    headers=headers,
                    timeout=30,
                )
                results["slow"] = response.status_code

            threads = [threading.Thread(target=stream), threading.Thread(target=slow)]
            for thread in threads:
                thread.start()
            assert first_chunk.wait(30)
            deadline = time.monotonic() + 30
            while not upstream.requests:  # the slow request is in flight
                assert time.monotonic() < deadline
                time.sleep(0.01)
            served.signal(signum)
            for thread in threads:
                thread.join(30)
            assert served.wait() == 0, served.stderr
            assert results["slow"] == 200
            body = results["stream"]
            assert b'"content":" w7"' in body
            assert body.endswith(b"data: [DONE]\n\n")
            assert "Traceback" not in served.stderr


def _completion() -> dict:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "relayed",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "late"},
                "finish_reason": "stop",
            }
        ],
    }
