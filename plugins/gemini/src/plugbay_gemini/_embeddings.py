"""OpenAI embeddings ⇄ Gemini ``batchEmbedContents`` (AI Studio) and ``predict`` (Vertex AI).

``dimensions`` becomes ``outputDimensionality``; ``encoding_format: base64`` is honoured the
way OpenAI does it: the float32 little-endian bytes of each vector, base64-encoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from plugbay import EmbeddingsRequest, EmbeddingsResponse, InvalidRequest, UpstreamError
from plugbay.wire import embeddings_answer
from plugbay_gemini._errors import INVALID_RESPONSE
from plugbay_gemini._native import (
    BatchEmbedRequest,
    BatchEmbedResponse,
    Content,
    EmbedRequest,
    Part,
    PredictRequest,
    PredictResponse,
)

__all__ = ["batch_answer", "batch_request", "predict_answer", "predict_request", "texts"]

_encode = msgspec.json.Encoder().encode
_decode_batch = msgspec.json.Decoder(BatchEmbedResponse).decode
_decode_predict = msgspec.json.Decoder(PredictResponse).decode


def texts(request: EmbeddingsRequest) -> list[str]:
    inputs = request.params.inputs
    if any(not isinstance(item, str) for item in inputs):
        raise InvalidRequest("Gemini embeds text: send strings, not token arrays.", param="input")
    return [str(item) for item in inputs]


def batch_request(model: str, inputs: Sequence[str], dimensions: int | None) -> bytes:
    """``model`` is the resource name, ``models/<name>``."""
    return _encode(
        BatchEmbedRequest(
            requests=[
                EmbedRequest(
                    model=model,
                    content=Content(parts=[Part(text=text)]),
                    output_dimensionality=dimensions,
                )
                for text in inputs
            ]
        )
    )


def batch_answer(content: bytes, request: EmbeddingsRequest, count: int) -> EmbeddingsResponse:
    answer = _decode(_decode_batch, content)
    vectors = [embedding.values for embedding in answer.embeddings]
    metadata = answer.usage_metadata
    tokens = metadata.prompt_token_count if metadata is not None else 0
    return _answer(vectors, tokens, request, count)


def predict_request(inputs: Sequence[str], dimensions: int | None) -> bytes:
    parameters = {"outputDimensionality": dimensions} if dimensions is not None else None
    return _encode(
        PredictRequest(instances=[{"content": text} for text in inputs], parameters=parameters)
    )


def predict_answer(content: bytes, request: EmbeddingsRequest, count: int) -> EmbeddingsResponse:
    answer = _decode(_decode_predict, content)
    vectors = [prediction.embeddings.values for prediction in answer.predictions]
    tokens = sum(
        p.embeddings.statistics.token_count
        for p in answer.predictions
        if p.embeddings.statistics is not None
    )
    return _answer(vectors, tokens, request, count)


def _decode(decoder: Any, content: bytes) -> Any:
    try:
        return decoder(content)
    except msgspec.MsgspecError as exc:
        raise UpstreamError(
            "Gemini sent an embeddings answer we could not read.", code=INVALID_RESPONSE
        ) from exc


def _answer(
    vectors: list[list[float]], tokens: int, request: EmbeddingsRequest, count: int
) -> EmbeddingsResponse:
    if len(vectors) != count:
        raise UpstreamError(f"Gemini returned {len(vectors)} embeddings for {count} inputs.")
    content, usage = embeddings_answer(
        vectors, request.public_model, request.params.encoding_format, tokens
    )
    return EmbeddingsResponse(content, usage)
