"""msgspec Structs for the OpenAI wire format.

Request Structs validate what the gateway and translating adapters read; the decoded body is
kept whole beside them (:class:`plugbay.ChatRequest`), so fields these Structs do not know
are still forwarded.
"""

from __future__ import annotations

from plugbay.schemas.chat import (
    ChatCompletionParams,
    ChatMessage,
    FunctionCall,
    FunctionDefinition,
    StreamOptions,
    Tool,
    ToolCall,
)
from plugbay.schemas.embeddings import EmbeddingsParams
from plugbay.schemas.models import Capabilities, ModelList, ModelObject, ModelPricing
from plugbay.schemas.usage import CompletionTokensDetails, PromptTokensDetails, Usage

__all__ = [
    "Capabilities",
    "ChatCompletionParams",
    "ChatMessage",
    "CompletionTokensDetails",
    "EmbeddingsParams",
    "FunctionCall",
    "FunctionDefinition",
    "ModelList",
    "ModelObject",
    "ModelPricing",
    "PromptTokensDetails",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "Usage",
]
