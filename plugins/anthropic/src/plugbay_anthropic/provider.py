"""The two adapters: ``anthropic`` (the Messages API) and ``vertex-anthropic`` (Claude on
Vertex AI). They differ only in the URL, the credentials and where model and version go."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from plugbay import BaseProvider, ChatResponse, ChatStream, ProviderContext
from plugbay.wire import json_answer, relay
from plugbay_anthropic.errors import anthropic_error
from plugbay_anthropic.request import Plan, translate
from plugbay_anthropic.response import chat_completion
from plugbay_anthropic.stream import MessagesEvents
from plugbay_anthropic.wire import decode_answer, encode

if TYPE_CHECKING:
    import httpx

    from plugbay import ChatRequest
    from plugbay_anthropic.options import (
        AnthropicOptions,
        TranslationOptions,
        VertexAnthropicOptions,
    )

__all__ = ["DEFAULT_BASE_URL", "AnthropicProvider", "VertexAnthropicProvider", "vertex_base_url"]

DEFAULT_BASE_URL = "https://api.anthropic.com"


class _MessagesProvider(BaseProvider):
    """Chat completions (whole and streamed) through the Messages API; subclasses say where
    it is and how to sign in."""

    options: TranslationOptions

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.options = ctx.options
        headers = {"content-type": "application/json", "accept": "application/json"}
        if self.options.beta:
            headers["anthropic-beta"] = ",".join(self.options.beta)
        headers.update(self._credentials())
        self.http = ctx.http(self._default_base_url(), headers)

    def _credentials(self) -> dict[str, str]:
        raise NotImplementedError

    def _default_base_url(self) -> str:
        raise NotImplementedError

    def _plan(self, request: ChatRequest, stream: bool) -> Plan:
        raise NotImplementedError

    def _path(self, request: ChatRequest, stream: bool) -> str:
        raise NotImplementedError

    async def _post(self, request: ChatRequest, *, stream: bool) -> tuple[httpx.Response, Plan]:
        plan = self._plan(request, stream)
        for note in plan.notes:
            self.ctx.log.debug("request %s: %s", request.request_id, note)
        response = await self.http.post(
            self._path(request, stream), encode(plan.body), stream=stream, error=anthropic_error
        )
        return response, plan

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response, plan = await self._post(request, stream=False)
        answer = json_answer(response.content, decode_answer)
        content, usage = chat_completion(answer, request, plan.json_tool)
        return ChatResponse(content, usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        response, plan = await self._post(request, stream=True)
        limit, json_tool = self.http.max_response_size, plan.json_tool
        return ChatStream.build(
            lambda stream: relay(response, MessagesEvents(request, json_tool, stream), limit),
            aclose=response.aclose,
        )


class AnthropicProvider(_MessagesProvider):
    """Anthropic's API: ``x-api-key`` and ``anthropic-version`` headers, the model in the body."""

    options: AnthropicOptions

    def _credentials(self) -> dict[str, str]:
        headers = {"anthropic-version": self.options.anthropic_version}
        if self.ctx.settings.api_key:
            headers["x-api-key"] = self.ctx.settings.api_key
        return headers

    def _default_base_url(self) -> str:
        return DEFAULT_BASE_URL

    def _plan(self, request: ChatRequest, stream: bool) -> Plan:
        return translate(request, self.options, model=request.upstream_model, stream=stream)

    def _path(self, request: ChatRequest, stream: bool) -> str:
        return self.options.messages_path


def vertex_base_url(region: str) -> str:
    """Vertex AI's endpoint for ``region`` (multi-regions have their own hosts)."""
    if region == "global":
        return "https://aiplatform.googleapis.com/v1"
    if region in ("us", "eu"):
        return f"https://aiplatform.{region}.rep.googleapis.com/v1"
    return f"https://{region}-aiplatform.googleapis.com/v1"


class VertexAnthropicProvider(_MessagesProvider):
    """Claude on Vertex AI: ``rawPredict``/``streamRawPredict``, the model in the URL and
    ``anthropic_version`` in the body; ``api_key`` is an OAuth access token."""

    options: VertexAnthropicOptions

    def _credentials(self) -> dict[str, str]:
        key = self.ctx.settings.api_key
        return {"authorization": f"Bearer {key}"} if key else {}

    def _default_base_url(self) -> str:
        return vertex_base_url(self.options.region)

    def _plan(self, request: ChatRequest, stream: bool) -> Plan:
        return translate(
            request,
            self.options,
            model=None,
            anthropic_version=self.options.anthropic_version,
            stream=stream,
        )

    def _path(self, request: ChatRequest, stream: bool) -> str:
        project = quote(self.options.project, safe="")
        region = quote(self.options.region, safe="")
        model = quote(request.upstream_model, safe="@")
        method = "streamRawPredict" if stream else "rawPredict"
        publisher = f"/projects/{project}/locations/{region}/publishers/anthropic"
        return f"{publisher}/models/{model}:{method}"
