"""msgspec Structs for the OpenAI wire format.

Request Structs validate what the gateway and translating adapters read; the decoded body is
kept whole beside them (:class:`plugboard.ChatRequest`), so fields these Structs do not know
are still forwarded.
"""

from __future__ import annotations

from plugboard.schemas.chat import (
    ChatCompletionParams,
    ChatMessage,
    FunctionCall,
    FunctionDefinition,
    StreamOptions,
    Tool,
    ToolCall,
)
from plugboard.schemas.embeddings import EmbeddingsParams
from plugboard.schemas.models import ModelList, ModelObject
from plugboard.schemas.usage import CompletionTokensDetails, PromptTokensDetails, Usage

__all__ = [
    "ChatCompletionParams",
    "ChatMessage",
    "CompletionTokensDetails",
    "EmbeddingsParams",
    "FunctionCall",
    "FunctionDefinition",
    "ModelList",
    "ModelObject",
    "PromptTokensDetails",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "Usage",
]
