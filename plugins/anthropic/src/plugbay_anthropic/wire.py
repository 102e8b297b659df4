"""msgspec Structs for the Messages API's wire format: what we send, and what comes back.

Request blocks are tagged Structs (encoded with their ``type``). Answers decode into loose
Structs with a ``type`` string, so block and event types added by Anthropic later decode
fine and are skipped rather than failing the request.
"""

from __future__ import annotations

from typing import Any

import msgspec

# --- request ------------------------------------------------------------------------------


class Base64Source(msgspec.Struct, tag="base64", tag_field="type"):
    media_type: str
    data: str


class URLSource(msgspec.Struct, tag="url", tag_field="type"):
    url: str


Source = Base64Source | URLSource


class TextBlock(msgspec.Struct, tag="text", tag_field="type", omit_defaults=True):
    text: str
    cache_control: dict[str, Any] | None = None


class ImageBlock(msgspec.Struct, tag="image", tag_field="type", omit_defaults=True):
    source: Source
    cache_control: dict[str, Any] | None = None


class DocumentBlock(msgspec.Struct, tag="document", tag_field="type", omit_defaults=True):
    source: Source
    cache_control: dict[str, Any] | None = None


class ToolUseBlock(msgspec.Struct, tag="tool_use", tag_field="type", omit_defaults=True):
    id: str
    name: str
    input: msgspec.Raw
    """The call's arguments, as the client sent them (checked to be a JSON object)."""
    cache_control: dict[str, Any] | None = None


class ToolResultBlock(msgspec.Struct, tag="tool_result", tag_field="type", omit_defaults=True):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock]
    cache_control: dict[str, Any] | None = None


Block = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock


class Message(msgspec.Struct):
    role: str
    content: list[Block]


class Tool(msgspec.Struct, omit_defaults=True):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


class ToolChoice(msgspec.Struct, omit_defaults=True):
    type: str
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(msgspec.Struct):
    user_id: str


class OutputFormat(msgspec.Struct):
    schema: dict[str, Any]
    type: str = "json_schema"


class OutputConfig(msgspec.Struct):
    format: OutputFormat


class MessagesRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The body of ``POST /v1/messages`` (Vertex: no ``model``, an ``anthropic_version``)."""

    model: str | None = None
    anthropic_version: str | None = None
    system: str | list[TextBlock] | None = None
    messages: list[Message]
    max_tokens: int
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None
    metadata: Metadata | None = None
    stream: bool | None = None


# --- answers --------------------------------------------------------------------------------


class Usage(msgspec.Struct):
    """Token counts; in a stream, ``message_delta`` repeats them cumulatively."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class ContentBlock(msgspec.Struct):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: msgspec.Raw = msgspec.Raw()
    """A ``tool_use`` block's input, undecoded (empty when absent)."""
    thinking: str | None = None


class Answer(msgspec.Struct):
    """A Message object: the whole answer, or the skeleton ``message_start`` carries."""

    id: str = ""
    model: str = ""
    content: list[ContentBlock] = []
    stop_reason: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)


class Delta(msgspec.Struct):
    """A ``content_block_delta``'s or a ``message_delta``'s ``delta``."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    stop_reason: str | None = None


class ErrorDetail(msgspec.Struct):
    type: str | None = None
    message: str | None = None


class Event(msgspec.Struct):
    """One streamed event; which members are set depends on ``type``."""

    type: str
    index: int | None = None
    message: Answer | None = None
    content_block: ContentBlock | None = None
    delta: Delta | None = None
    usage: Usage | None = None
    error: ErrorDetail | None = None


encode = msgspec.json.Encoder().encode
decode_answer = msgspec.json.Decoder(Answer).decode
decode_event = msgspec.json.Decoder(Event).decode
