"""Gemini's native wire shapes (``generateContent``, ``batchEmbedContents``, Vertex ``predict``).

The same Structs encode requests and decode answers: decoding ignores the members we do not
read (``safetyRatings``, ``citationMetadata``...), and ``omit_defaults`` keeps requests free of
members we do not set.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "BatchEmbedRequest",
    "BatchEmbedResponse",
    "Blob",
    "Candidate",
    "Content",
    "EmbedRequest",
    "FileData",
    "FunctionCall",
    "FunctionCallingConfig",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "Part",
    "PredictRequest",
    "PredictResponse",
    "Status",
    "ThinkingConfig",
    "Tool",
    "ToolConfig",
    "UsageMetadata",
    "decode_response",
]


class _Native(msgspec.Struct, rename="camel", omit_defaults=True):
    pass


# --- contents --------------------------------------------------------------------------------


class Blob(_Native):
    mime_type: str
    data: str
    """Base64."""


class FileData(_Native):
    file_uri: str
    mime_type: str | None = None


class FunctionCall(_Native):
    name: str
    args: dict[str, Any] = {}
    id: str | None = None


class FunctionResponse(_Native):
    name: str
    response: dict[str, Any]


class Part(_Native):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    thought: bool | None = None
    thought_signature: str | None = None


class Content(_Native):
    parts: list[Part] = []
    role: str | None = None


# --- generateContent request -----------------------------------------------------------------


class FunctionDeclaration(_Native):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Native):
    function_declarations: list[FunctionDeclaration]


class FunctionCallingConfig(_Native):
    mode: str
    allowed_function_names: list[str] | None = None


class ToolConfig(_Native):
    function_calling_config: FunctionCallingConfig


class ThinkingConfig(_Native):
    thinking_budget: int | None = None


class GenerationConfig(_Native):
    stop_sequences: list[str] | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    thinking_config: ThinkingConfig | None = None


class GenerateContentRequest(_Native):
    contents: list[Content]
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: list[dict[str, Any]] | None = None


# --- generateContent answer ------------------------------------------------------------------


class Candidate(_Native):
    content: Content | None = None
    finish_reason: str | None = None
    finish_message: str | None = None
    index: int = 0


class PromptFeedback(_Native):
    block_reason: str | None = None
    block_reason_message: str | None = None


class UsageMetadata(_Native):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    total_token_count: int = 0
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0


class Status(_Native):
    """``google.rpc.Status``, as error bodies and mid-stream error events carry it."""

    code: int = 0
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = []


class GenerateContentResponse(_Native):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: Status | None = None
    """Set on an error event in the middle of a stream (the answer's status was 200)."""


decode_response = msgspec.json.Decoder(GenerateContentResponse).decode


# --- embeddings ------------------------------------------------------------------------------


class EmbedRequest(_Native):
    model: str
    content: Content
    output_dimensionality: int | None = None


class BatchEmbedRequest(_Native):
    requests: list[EmbedRequest]


class ContentEmbedding(_Native):
    values: list[float] = []


class BatchEmbedResponse(_Native):
    embeddings: list[ContentEmbedding] = []
    usage_metadata: UsageMetadata | None = None


class PredictRequest(_Native):
    """Vertex AI's text-embedding ``predict`` call."""

    instances: list[dict[str, Any]]
    parameters: dict[str, Any] | None = None


class EmbeddingStatistics(msgspec.Struct, omit_defaults=True):
    token_count: int = 0
    truncated: bool = False


class PredictedEmbedding(msgspec.Struct, omit_defaults=True):
    values: list[float] = []
    statistics: EmbeddingStatistics | None = None


class Prediction(msgspec.Struct, omit_defaults=True):
    embeddings: PredictedEmbedding


class PredictResponse(msgspec.Struct, omit_defaults=True):
    predictions: list[Prediction] = []
