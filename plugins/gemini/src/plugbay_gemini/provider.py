"""The ``gemini`` (Google AI Studio) and ``vertex`` (Vertex AI) providers.

Both speak Gemini's native ``generateContent`` API and differ only in where it lives and how
they authenticate: ``gemini`` sends ``x-goog-api-key``; ``vertex`` sends a bearer token, given
as ``api_key`` or obtained through google-auth from a service-account file or the
application default credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    ConfigError,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ProviderContext,
    UpstreamError,
)
from plugbay.wire import UpstreamClient, relay
from plugbay_gemini import _embeddings
from plugbay_gemini._auth import GoogleCredentials
from plugbay_gemini._errors import INVALID_RESPONSE, response_error, status_error
from plugbay_gemini._native import decode_response
from plugbay_gemini._request import THOUGHT_SIGNATURE_FALLBACK, build_request
from plugbay_gemini._response import completion
from plugbay_gemini._stream import GeminiEvents

__all__ = [
    "DEFAULT_BASE_URL",
    "GeminiOptions",
    "GeminiProvider",
    "VertexOptions",
    "VertexProvider",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
API_KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

_encode = msgspec.json.Encoder().encode


class GeminiOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    safety_settings: list[dict[str, Any]] | None = None
    """Sent as ``safetySettings`` with every chat request, in Gemini's own spelling
    (``[{category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_ONLY_HIGH"}]``)."""
    thought_signature_fallback: str | None = THOUGHT_SIGNATURE_FALLBACK
    """Signature for replayed tool calls that carry none (Gemini 3 refuses them without);
    empty to send none."""


class VertexOptions(GeminiOptions, kw_only=True, forbid_unknown_fields=True):
    project: str
    """The Google Cloud project id."""
    region: str = "us-central1"
    """The Vertex AI location (``global`` for the global endpoint)."""
    credentials_file: str | None = None
    """A service-account JSON file; without it and without ``api_key``, the application
    default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, the metadata server)."""


class _GoogleProvider(BaseProvider):
    options: GeminiOptions
    http: UpstreamClient

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.options = ctx.options

    def model_path(self, model: str) -> str:
        raise NotImplementedError

    async def _auth_headers(self) -> Mapping[str, str] | None:
        return None

    async def _post(self, path: str, body: bytes, *, stream: bool = False) -> httpx.Response:
        return await self.http.post(
            path, body, stream=stream, headers=await self._auth_headers(), error=response_error
        )

    def _native(self, request: ChatRequest) -> bytes:
        options = self.options
        return _encode(
            build_request(
                request,
                safety_settings=options.safety_settings,
                signature_fallback=options.thought_signature_fallback or None,
            )
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        path = self.model_path(request.upstream_model) + ":generateContent"
        response = await self._post(path, self._native(request))
        try:
            answer = decode_response(response.content)
        except msgspec.MsgspecError as exc:
            raise UpstreamError(
                "Gemini sent an answer we could not read.", code=INVALID_RESPONSE
            ) from exc
        if answer.error is not None:
            raise status_error(answer.error)
        body, usage = completion(answer, request.public_model)
        return ChatResponse(_encode(body), usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        path = self.model_path(request.upstream_model) + ":streamGenerateContent?alt=sse"
        response = await self._post(path, self._native(request), stream=True)
        limit = self.http.max_response_size
        wants_usage = request.client_wants_usage
        return ChatStream.build(
            lambda stream: relay(
                response,
                GeminiEvents(request.public_model, wants_usage=wants_usage, stream=stream),
                limit,
            ),
            aclose=response.aclose,
        )


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


class GeminiProvider(_GoogleProvider):
    """Google AI Studio's Generative Language API."""

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        key = settings.api_key or next(
            (os.environ[name] for name in API_KEY_VARIABLES if os.environ.get(name)), None
        )
        headers = {"content-type": "application/json"}
        if key:
            headers["x-goog-api-key"] = key
        elif not _has_header(settings.headers, "x-goog-api-key"):
            raise ConfigError(
                f"provider {settings.name!r}: set `api_key` (or GEMINI_API_KEY) to a Gemini API key"
            )
        self.http = ctx.http(DEFAULT_BASE_URL, headers)

    def model_path(self, model: str) -> str:
        # "gemini-2.5-flash" is "models/gemini-2.5-flash"; "tunedModels/x" is used as it is.
        return "/" + (model if "/" in model else f"models/{model}")

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        inputs = _embeddings.texts(request)
        path = self.model_path(request.upstream_model)
        body = _embeddings.batch_request(path[1:], inputs, request.params.dimensions)
        response = await self._post(path + ":batchEmbedContents", body)
        return _embeddings.batch_answer(response.content, request, len(inputs))


class VertexProvider(_GoogleProvider):
    """Gemini on Vertex AI: ``{region}-aiplatform.googleapis.com``, publisher ``google``."""

    options: VertexOptions

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        settings, options = ctx.settings, self.options
        region = options.region
        host = (
            "aiplatform.googleapis.com"
            if region == "global"
            else f"{region}-aiplatform.googleapis.com"
        )
        headers = {"content-type": "application/json"}
        self.tokens: GoogleCredentials | None = None
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        elif not _has_header(settings.headers, "authorization"):
            file = options.credentials_file
            if file and not os.path.isfile(file):
                raise ConfigError(f"provider {settings.name!r}: no such file: {file}")
            self.tokens = GoogleCredentials(file)
        self.prefix = f"/projects/{options.project}/locations/{region}"
        self.http = ctx.http(f"https://{host}/v1", headers)

    def model_path(self, model: str) -> str:
        if model.startswith("projects/"):
            return "/" + model
        if "/" in model:  # "publishers/meta/models/...", "endpoints/123"
            return f"{self.prefix}/{model}"
        return f"{self.prefix}/publishers/google/models/{model}"

    async def _auth_headers(self) -> Mapping[str, str] | None:
        if self.tokens is None:
            return None
        return {"authorization": f"Bearer {await self.tokens.token()}"}

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        inputs = _embeddings.texts(request)
        body = _embeddings.predict_request(inputs, request.params.dimensions)
        response = await self._post(self.model_path(request.upstream_model) + ":predict", body)
        return _embeddings.predict_answer(response.content, request, len(inputs))

    async def aclose(self) -> None:
        if self.tokens is not None:
            await self.tokens.aclose()
        await super().aclose()
