"""Tiny plugins for the core's tests: they use only ``plugbay`` (no first-party plugin).

- :data:`relay`: adapter type ``relay``, an OpenAI-compatible relay built on the core's
  upstream client and wire helpers, to put a :class:`~plugbay.testing.ScriptedUpstream`
  behind the gateway.
- :data:`canned`: adapter type ``canned``, answers in-process with a fixed text.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ProviderContext,
    hookimpl,
)
from plugbay.schemas import Usage
from plugbay.wire import SSEBuffer, encode_event, replace_model, upstream_error

_encode = msgspec.json.Encoder().encode


class RelayProvider(BaseProvider):
    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        headers = {"content-type": "application/json"}
        if ctx.settings.api_key:
            headers["authorization"] = f"Bearer {ctx.settings.api_key}"
        self.http = ctx.http("", headers)

    async def _post(self, path: str, body: bytes, *, stream: bool = False) -> httpx.Response:
        response = await self.http.send(self.http.build("POST", path, content=body), stream=stream)
        if response.status_code >= 300:
            if stream:
                await response.aread()
                await response.aclose()
            raise upstream_error(response.status_code, response.content, response.headers)
        return response

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self._post("/chat/completions", request.upstream_body())
        content = replace_model(response.content, request.upstream_model, request.public_model)
        return ChatResponse(content)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        response = await self._post("/chat/completions", request.upstream_body(), stream=True)
        return ChatStream(self._events(response, request), aclose=response.aclose)

    async def _events(self, response: httpx.Response, request: ChatRequest) -> AsyncIterator[bytes]:
        buffer = SSEBuffer()
        async for data in response.aiter_bytes():
            for event in buffer.feed(data):
                if event.startswith(b"data: [DONE]"):
                    return
                yield replace_model(event, request.upstream_model, request.public_model) + b"\n\n"

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        response = await self._post("/embeddings", request.upstream_body())
        content = replace_model(response.content, request.upstream_model, request.public_model)
        return EmbeddingsResponse(content)


class RelayPlugin:
    @hookimpl
    def plugbay_register_adapters(self, register: Callable[..., None]) -> None:
        register("relay", RelayProvider)


relay = RelayPlugin()


class CannedOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    text: str = "canned answer"


class CannedProvider(BaseProvider):
    """Answers every chat with ``options.text``, streamed one word per event."""

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.text: str = ctx.options.text

    def _base(self, request: ChatRequest, kind: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-canned",
            "object": kind,
            "created": int(time.time()),
            "model": request.public_model,
        }

    async def chat(self, request: ChatRequest) -> ChatResponse:
        usage = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
        body = {
            **self._base(request, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return ChatResponse(_encode(body), usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        async def events(stream: ChatStream) -> AsyncIterator[bytes]:
            base = self._base(request, "chat.completion.chunk")
            for index, word in enumerate(self.text.split()):
                delta = {"content": word if index == 0 else " " + word}
                yield encode_event(
                    {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                )
            stream.usage = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)

        return ChatStream.build(events)


class CannedPlugin:
    @hookimpl
    def plugbay_register_adapters(self, register: Callable[..., None]) -> None:
        register("canned", CannedProvider, options=CannedOptions)


canned = CannedPlugin()


def relay_config(upstream_base_url: str, **provider: Any) -> dict[str, Any]:
    """A config with provider ``up`` (a relay to ``upstream_base_url``) and two models."""
    return {
        "providers": [
            {
                "name": "up",
                "type": "relay",
                "base_url": upstream_base_url,
                "api_key": "sk-upstream-secret",
                **provider,
            }
        ],
        "models": [
            {"name": "public", "provider": "up", "upstream_model": "upstream-model"},
            {"name": "org/team/model-1", "provider": "up", "upstream_model": "upstream-model"},
        ],
    }


CANNED_CONFIG: dict[str, Any] = {
    "providers": [{"name": "c", "type": "canned"}],
    "models": [{"name": "canned", "provider": "c"}],
}

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hello there"}]}


def make_distribution(
    site: Path, module: str, source: str, *, dist: str | None = None, version: str = "1.2.3"
) -> Path:
    """Install a plugin module the way pip would: the module, then a dist-info beside it.

    ``site`` goes on ``sys.path`` (or ``PYTHONPATH``); the entry point ``plugbay``
    group names it after ``module`` without its ``plugbay_`` prefix.
    """
    dist = dist or module.replace("_", "-")
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    short = module.removeprefix("plugbay_")
    (info / "entry_points.txt").write_text(f"[plugbay]\n{short} = {module}\n")
    (info / "top_level.txt").write_text(module + "\n")
    return site


HELLO_PLUGIN = '''
"""A third-party plugin: adapter type ``hello`` and a ``hello`` command."""

import time

import click
import msgspec

from plugbay import BaseProvider, ChatResponse, hookimpl


class HelloProvider(BaseProvider):
    async def chat(self, request):
        body = {
            "id": "chatcmpl-hello",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.public_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hello from a plugin"},
                    "finish_reason": "stop",
                }
            ],
        }
        return ChatResponse(msgspec.json.encode(body))


@hookimpl
def plugbay_register_adapters(register):
    register("hello", HelloProvider)


@hookimpl
def plugbay_register_commands(cli):
    @cli.command()
    @click.argument("name")
    def hello(name):
        """Say hello."""
        click.echo(f"hello {name}, from a plugin")
'''

HELLO_CONFIG = """
[[providers]]
name = "greeter"
type = "hello"

[[models]]
name = "hello-model"
provider = "greeter"
"""
