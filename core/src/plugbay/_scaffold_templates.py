"""The files ``plugbay new plugin`` writes; ``__NAME__`` placeholders are filled by
:func:`plugbay._scaffold.scaffold`."""

PYPROJECT = """
[project]
name = "__DIST__"
version = "0.1.0"
description = "A plugbay plugin: __SHORT__"
readme = "README.md"
license = "MIT"
license-files = ["LICENSE"]
requires-python = ">=3.11"
keywords = ["llm", "gateway", "plugbay", "plugbay-plugin"]
classifiers = ["Programming Language :: Python :: 3", "Typing :: Typed"]
# the plugbay minor series this plugin was written and tested against
dependencies = ["__VERSION_POLICY__"]

[project.optional-dependencies]
test = ["pytest>=8.3", "openai>=1.50"]

[project.entry-points.plugbay]
__SHORT__ = "__PKG__"

[build-system]
requires = ["hatchling>=1.27"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/__PKG__"]

[tool.pytest.ini_options]
addopts = ["-ra", "--strict-markers", "--strict-config"]
filterwarnings = ["error"]
testpaths = ["tests"]
"""

GITIGNORE = """
__pycache__/
*.egg-info/
.venv/
dist/
"""

LICENSE = """
MIT License

Copyright (c) __YEAR__ the __DIST__ authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

README_ADAPTER = """
# __DIST__

A [plugbay](https://github.com/plugbay/plugbay) plugin: adapter type `__SHORT__`, relaying
chat completions to an OpenAI-compatible upstream. Replace the translation in
`src/__PKG__/provider.py` with your upstream's wire format, and the scripted answers in
`tests/test_conformance.py` with that format's.

## Install

```console
pip install __DIST__
```

## Settings

```toml
[[providers]]
name = "__SHORT__"
type = "__SHORT__"
base_url = "https://api.example.com/v1"
api_key = "${__ENV___API_KEY}"

[[models]]
name = "my-model"
provider = "__SHORT__"
upstream_model = "their-model-name"
```

## Develop

```console
pip install -e '.[test]'
pytest
```

The tests run plugbay's `ProviderConformance` suite: the contract every adapter keeps
(OpenAI JSON and SSE, tool calls, usage, errors, client disconnects).
"""

README_POLICY = """
# __DIST__

A [plugbay](https://github.com/plugbay/plugbay) plugin: a rate limiter that admits at most
`limit` requests in flight at once and says how many are in flight in
`x-__SHORT__-in-flight`.

## Install

```console
pip install __DIST__
```

Installed, it is loaded by `plugbay serve` (entry point `__SHORT__` in the `plugbay` group).

## Develop

```console
pip install -e '.[test]'
pytest
```
"""

ADAPTER_INIT = '''
"""__DIST__: the ``__SHORT__`` adapter type for plugbay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import AdapterRegister


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    # imported here: listing plugins (``plugbay plugins``) needs no adapter code
    from __PKG__.provider import __CLASS__Options, __CLASS__Provider

    register.adapter("__SHORT__", __CLASS__Provider, options=__CLASS__Options)
'''

ADAPTER_PROVIDER = '''
"""The ``__SHORT__`` adapter: chat completions relayed to an OpenAI-compatible upstream.

An adapter for another wire format translates the request in :meth:`chat` /
:meth:`chat_stream`, the answer in :func:`_answer` and each stream event in :meth:`_events`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx
import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    PlugbayError,
    ProviderContext,
)
from plugbay.schemas import Usage
from plugbay.wire import SSEBuffer, event_data, replace_model
from plugbay.wire.errors import error_fields, from_upstream


class __CLASS__Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The adapter's own keys of a ``[[providers]]`` entry."""

    chat_path: str = "/chat/completions"


class _Usage(msgspec.Struct):
    usage: Usage | None = None


_read_usage = msgspec.json.Decoder(_Usage).decode


def _error(status: int, body: bytes, headers: Mapping[str, str]) -> PlugbayError:
    """The upstream's error answer, through plugbay's one status-to-error ladder."""
    message, error_type, param, code = error_fields(body)  # OpenAI's error body
    return from_upstream(
        status,
        message,
        code=code,
        retry_after=headers.get("retry-after"),
        error_type=error_type,
        param=param,
        upstream="__CLASS__",
    )


class __CLASS__Provider(BaseProvider):
    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.options: __CLASS__Options = ctx.options
        headers = {"content-type": "application/json"}
        if ctx.settings.api_key:
            headers["authorization"] = f"Bearer {ctx.settings.api_key}"
        self.http = ctx.http("", headers)  # base_url comes from the provider entry

    async def _post(self, body: bytes, *, stream: bool = False) -> httpx.Response:
        request = self.http.build("POST", self.options.chat_path, content=body)
        response = await self.http.send(request, stream=stream)
        if response.status_code >= 300:
            if stream:
                await response.aread()
                await response.aclose()
            raise _error(response.status_code, response.content, response.headers)
        return response

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self._post(request.upstream_body())
        content = replace_model(response.content, request.upstream_model, request.public_model)
        return ChatResponse(content, _read_usage(content).usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        # always ask for usage: the gateway records it, whether the client asked or not
        body = request.upstream_body(stream_options={"include_usage": True})
        response = await self._post(body, stream=True)

        async def events() -> AsyncIterator[bytes]:
            buffer = SSEBuffer()
            async for data in response.aiter_bytes():
                for event in buffer.feed(data):
                    payload = event_data(event)
                    if payload is None or payload == b"[DONE]":
                        continue  # the gateway sends [DONE] itself
                    usage = _read_usage(payload).usage
                    if usage is not None:
                        stream.usage = usage
                        if not request.client_wants_usage:
                            continue
                    yield b"data: " + replace_model(
                        payload, request.upstream_model, request.public_model
                    ) + b"\\n\\n"

        stream = ChatStream(events(), aclose=response.aclose)
        return stream
'''

ADAPTER_TEST = '''
"""The adapter keeps plugbay's contract for adapters (plugbay.testing.ProviderConformance).

The scripted upstream answers in the upstream's own wire format (here OpenAI's): change
``answer``, ``stream`` and ``error`` with the adapter.
"""

from __future__ import annotations

import json
from typing import Any

import __PKG__
from plugbay.testing import ProviderConformance, Reply, Scenario, ScriptedUpstream


def _usage(scenario: Scenario) -> dict[str, int]:
    prompt, completion = scenario.prompt_tokens, scenario.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _calls(scenario: Scenario) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for call in scenario.tool_calls
    ]


class Test__CLASS__Conformance(ProviderConformance):
    plugins = (__PKG__,)

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        return {"type": "__SHORT__", "base_url": upstream.base_url}

    def answer(self, scenario: Scenario, *, tools: bool) -> Reply:
        message: dict[str, Any] = {"role": "assistant", "content": scenario.text}
        if tools:
            message = {"role": "assistant", "content": None, "tool_calls": _calls(scenario)}
        return Reply.json(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1700000000,
                "model": self.upstream_model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if tools else "stop",
                    }
                ],
                "usage": _usage(scenario),
            }
        )

    def stream(self, scenario: Scenario, *, tools: bool) -> Reply:
        base = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.upstream_model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        events: list[Any] = [chunk({"role": "assistant", "content": None if tools else ""})]
        if tools:
            for index, call in enumerate(_calls(scenario)):
                events.append(chunk({"tool_calls": [{**call, "index": index}]}))
            events.append(chunk({}, "tool_calls"))
        else:
            for i, word in enumerate(scenario.text.split(" ")):
                events.append(chunk({"content": word if i == 0 else " " + word}))
            events.append(chunk({}, "stop"))
        events.append({**base, "choices": [], "usage": _usage(scenario)})
        events.append(b"data: [DONE]\\n\\n")
        return Reply.sse(events)

    def error(self, status: int, message: str, *, retry_after: int | None) -> Reply:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else None
        return Reply.error(status, message, headers=headers)
'''

POLICY_INIT = '''
"""__DIST__: a plugbay policy (a rate limiter capping the requests in flight)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import RateLimiterRegister


@hookimpl
def plugbay_register_rate_limiters(register: RateLimiterRegister) -> None:
    from __PKG__.policy import InFlightLimit

    register.rate_limiter(InFlightLimit())
'''

POLICY_MODULE = '''
"""A rate limiter: at most ``limit`` requests in flight at once (in this worker)."""

from __future__ import annotations

from plugbay import RateLimited, RateLimiterRegister, RequestContext, hookimpl

HEADER = "x-__SHORT__-in-flight"


class InFlightLimit:
    """Refuses a request with 429 while ``limit`` others are in flight.

    Registered as a plugin object, it registers itself: ``plugins=[InFlightLimit(2)]``.
    """

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.in_flight = 0

    async def acquire(self, ctx: RequestContext) -> None:
        if self.in_flight >= self.limit:
            raise RateLimited(
                f"At most {self.limit} requests at once; try again shortly.",
                retry_after=1,
                code="too_many_in_flight",
            )
        self.in_flight += 1
        ctx.response_headers[HEADER] = str(self.in_flight)

    async def release(self, ctx: RequestContext) -> None:
        self.in_flight -= 1

    @hookimpl
    def plugbay_register_rate_limiters(self, register: RateLimiterRegister) -> None:
        register.rate_limiter(self)
'''

POLICY_TEST = '''
"""The policy in a gateway answering in-process, with plugbay's fake adapter behind it."""

from __future__ import annotations

import pytest

from __PKG__.policy import HEADER, InFlightLimit

CONFIG = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [{"name": "m", "provider": "local"}],
}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


def test_admits_and_says_how_many_are_in_flight(make_client, fake_adapter):
    gw = make_client(CONFIG, plugins=[fake_adapter, InFlightLimit(limit=2)])
    answer = gw.http().post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200, answer.text
    assert answer.headers[HEADER] == "1"
    assert answer.json()["choices"][0]["message"]["content"] == "hello there"
    assert fake_adapter.calls == ["m"]


def test_refuses_over_the_limit_before_the_upstream(make_client, fake_adapter):
    limit = InFlightLimit(limit=0)
    gw = make_client(CONFIG, plugins=[fake_adapter, limit])
    answer = gw.http().post("/v1/chat/completions", json=CHAT)
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "too_many_in_flight"
    assert answer.headers["retry-after"] == "1"
    assert fake_adapter.calls == []
    assert limit.in_flight == 0


@pytest.mark.parametrize("stream", [False, True])
def test_every_admitted_request_is_released(make_client, fake_adapter, stream):
    limit = InFlightLimit(limit=1)
    gw = make_client(CONFIG, plugins=[fake_adapter, limit])
    http = gw.http()
    for _ in range(3):  # one at a time: each is released before the next
        assert http.post("/v1/chat/completions", json={**CHAT, "stream": stream}).status_code == 200
    assert limit.in_flight == 0
'''
