"""Embeddings through ``batchEmbedContents``, driven by the openai SDK."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import openai
import pytest
from gemini_wire import API_KEY, gemini_error, gemini_json

BATCH = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
VECTORS = [[0.25, -0.5, 0.125], [1.0, 0.0, -0.0078125]]  # exact in float32


def test_single_string(gemini: Any) -> None:
    gemini.upstream.script(gemini_json({"embeddings": [{"values": VECTORS[0]}]}), path=BATCH)
    raw = gemini.client.embeddings.with_raw_response.create(
        model="embed", input="hello world", encoding_format="float"
    )
    assert json.loads(raw.http_response.text) == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": VECTORS[0]}],
        "model": "embed",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    sent = gemini.upstream.wait_for(1)[0]
    assert sent.path == BATCH
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.json() == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "hello world"}]},
            }
        ]
    }


def test_list_with_dimensions_and_usage(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_json(
            {
                "embeddings": [{"values": VECTORS[0]}, {"values": VECTORS[1]}],
                "usageMetadata": {"promptTokenCount": 6, "totalTokenCount": 6},
            }
        ),
        path=BATCH,
    )
    result = gemini.client.embeddings.create(
        model="embed", input=["first text", "second"], dimensions=3, encoding_format="float"
    )
    assert [d.embedding for d in result.data] == VECTORS
    assert [d.index for d in result.data] == [0, 1]
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (6, 6)
    assert gemini.upstream.wait_for(1)[0].json() == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": text}]},
                "outputDimensionality": 3,
            }
            for text in ("first text", "second")
        ]
    }


def test_base64_is_float32_little_endian(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_json({"embeddings": [{"values": VECTORS[0]}, {"values": VECTORS[1]}]}), path=BATCH
    )
    raw = gemini.client.embeddings.with_raw_response.create(
        model="embed", input=["a", "b"], encoding_format="base64"
    )
    data = json.loads(raw.http_response.text)["data"]
    assert [d["embedding"] for d in data] == [
        base64.b64encode(struct.pack("<3f", *vector)).decode() for vector in VECTORS
    ]
    # The SDK decodes base64 itself when it asked for floats by default.
    gemini.upstream.script(gemini_json({"embeddings": [{"values": VECTORS[1]}]}), path=BATCH)
    assert gemini.client.embeddings.create(model="embed", input="c").data[0].embedding == VECTORS[1]


def test_token_arrays_are_refused(gemini: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gemini.client.embeddings.create(model="embed", input=[[1, 2, 3]])
    assert caught.value.param == "input"
    assert gemini.upstream.requests == []


def test_wrong_count_is_an_upstream_error(gemini: Any) -> None:
    gemini.upstream.script(gemini_json({"embeddings": [{"values": [0.1]}]}), path=BATCH)
    with pytest.raises(openai.InternalServerError) as caught:
        gemini.client.embeddings.create(model="embed", input=["a", "b"])
    assert caught.value.status_code == 502
    assert "1 embeddings for 2 inputs" in caught.value.response.json()["error"]["message"]


def test_upstream_errors_are_mapped(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_error(400, "Request contains an invalid argument.", "INVALID_ARGUMENT"),
        gemini_error(429, "Quota exceeded.", "RESOURCE_EXHAUSTED"),
        path=BATCH,
    )
    with pytest.raises(openai.BadRequestError):
        gemini.client.embeddings.create(model="embed", input="x")
    with pytest.raises(openai.RateLimitError):
        gemini.client.embeddings.create(model="embed", input="x")
