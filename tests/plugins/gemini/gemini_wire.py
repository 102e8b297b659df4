"""Gemini's wire format as the real API writes it, for scripting the upstream.

- ``generateContent`` answers are pretty-printed JSON (two-space indent), ``application/json;
  charset=UTF-8``.
- ``streamGenerateContent?alt=sse`` answers are ``text/event-stream``: one ``data: {json}``
  line per event, each terminated by ``\\r\\n\\r\\n``, with ``": "`` and ``","`` separators, and
  no ``[DONE]`` sentinel.
- errors are ``{"error": {"code", "message", "status", "details"}}`` with the HTTP status.
"""

from __future__ import annotations

import json
from typing import Any

from plugbay.testing import Reply

MODEL = "gemini-2.5-flash"
BASE = "/v1beta/models/" + MODEL
GENERATE = BASE + ":generateContent"
STREAM = BASE + ":streamGenerateContent"
API_KEY = "AIza-test-key"
PUBLIC = "gemini-flash"

_JSON_HEADERS = {
    "content-type": "application/json; charset=UTF-8",
    "vary": "Origin, X-Origin, Referer",
    "server": "scaffolding on HTTPServer2",
}


def gemini_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    data = json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n"
    return Reply(status=status, body=data, headers={**_JSON_HEADERS, **(headers or {})})


def sse_event(event: Any) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ": ")).encode() + b"\r\n\r\n"


def gemini_sse(events: list[Any], **kwargs: Any) -> Reply:
    return Reply.sse(
        [e if isinstance(e, bytes) else sse_event(e) for e in events],
        headers={"content-type": "text/event-stream", "x-content-type-options": "nosniff"},
        **kwargs,
    )


def gemini_error(
    status: int,
    message: str,
    grpc_status: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details is not None:
        error["details"] = details
    return gemini_json({"error": error}, status=status, headers=headers)


def usage_metadata(
    prompt: int, candidates: int, *, thoughts: int = 0, cached: int = 0
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
        meta["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def answer(
    parts: list[dict[str, Any]] | None,
    finish: str | None = "STOP",
    *,
    usage: dict[str, Any] | None = None,
    response_id: str = "resp-1",
    index: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``GenerateContentResponse`` (a whole answer, or one stream event)."""
    candidate: dict[str, Any] = {}
    if parts is not None:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = index
    candidate.update(extra or {})
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage
    body["modelVersion"] = MODEL
    body["responseId"] = response_id
    return body


def gemini_config(upstream_url: str, **provider: Any) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "google",
                "type": "gemini",
                "base_url": upstream_url + "/v1beta",
                "api_key": API_KEY,
                **provider,
            }
        ],
        "models": [
            {"name": PUBLIC, "provider": "google", "upstream_model": MODEL},
            {"name": "embed", "provider": "google", "upstream_model": "gemini-embedding-001"},
        ],
    }


VERTEX_PREFIX = "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/"
VERTEX_GENERATE = VERTEX_PREFIX + MODEL + ":generateContent"
VERTEX_STREAM = VERTEX_PREFIX + MODEL + ":streamGenerateContent"
VERTEX_PREDICT = VERTEX_PREFIX + "text-embedding-005:predict"


def vertex_config(upstream_url: str, **provider: Any) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "vertex",
                "type": "vertex",
                "base_url": upstream_url + "/v1",
                "project": "my-proj",
                "region": "europe-west4",
                **provider,
            }
        ],
        "models": [
            {"name": "flash", "provider": "vertex", "upstream_model": MODEL},
            {"name": "embed", "provider": "vertex", "upstream_model": "text-embedding-005"},
        ],
    }
