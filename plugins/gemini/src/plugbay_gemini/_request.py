"""OpenAI chat completion request → Gemini ``GenerateContentRequest``.

- ``system``/``developer`` messages → ``systemInstruction`` (Gemini has no system turn).
- ``user`` → ``user`` contents; ``assistant`` → ``model`` contents whose tool calls become
  ``functionCall`` parts; consecutive ``tool`` messages → one ``user`` content of
  ``functionResponse`` parts, each named after the assistant tool call it answers.
- images, audio and files → ``inlineData`` (data URLs) or ``fileData`` (URLs).
- tools → ``functionDeclarations`` with schemas trimmed to Gemini's subset; ``tool_choice`` →
  ``toolConfig``; sampling parameters and ``response_format`` → ``generationConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from plugbay import ChatRequest, InvalidRequest
from plugbay.schemas import ChatCompletionParams, ChatMessage
from plugbay.wire import AudioPart, DataURL, ImagePart, TextPart, content_parts
from plugbay_gemini._native import (
    Blob,
    Content,
    FileData,
    FunctionCall,
    FunctionCallingConfig,
    FunctionDeclaration,
    FunctionResponse,
    GenerateContentRequest,
    GenerationConfig,
    Part,
    ThinkingConfig,
    Tool,
    ToolConfig,
)
from plugbay_gemini._schema import to_gemini_schema

__all__ = ["THOUGHT_SIGNATURE_FALLBACK", "build_request", "thought_signature"]

THOUGHT_SIGNATURE_FALLBACK = "skip_thought_signature_validator"
"""What Google documents to send for function calls whose signature was never seen."""

# Google's own OpenAI-compatible endpoint maps these efforts to these thinking budgets.
_THINKING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".wav": "audio/wav",
    ".mp3": "audio/mp3",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".mov": "video/mov",
    ".webm": "video/webm",
}
_decode_json = msgspec.json.decode


def build_request(
    request: ChatRequest,
    *,
    safety_settings: list[dict[str, Any]] | None = None,
    signature_fallback: str | None = THOUGHT_SIGNATURE_FALLBACK,
) -> GenerateContentRequest:
    """The native request for ``request``; :class:`InvalidRequest` for what Gemini cannot take."""
    params = request.params
    raw_messages = request.body.get("messages")
    system, contents = _contents(
        params.messages, raw_messages if isinstance(raw_messages, list) else [], signature_fallback
    )
    tools = _tools(params)
    return GenerateContentRequest(
        contents=contents,
        system_instruction=system,
        tools=tools,
        tool_config=_tool_config(params.tool_choice) if tools else None,
        generation_config=_generation_config(params),
        safety_settings=safety_settings,
    )


# --- messages --------------------------------------------------------------------------------


def _contents(
    messages: Sequence[ChatMessage], raw: Sequence[Any], signature_fallback: str | None
) -> tuple[Content | None, list[Content]]:
    system: list[Part] = []
    contents: list[Content] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for functionResponse
    answers: Content | None = None  # the content collecting consecutive tool results
    for index, message in enumerate(messages):
        role = message.role
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            system.extend(Part(text=text) for text in _texts(message.content, where))
            continue
        if role in ("tool", "function"):
            part = _function_response(message, names, where)
            if answers is None:
                answers = Content(role="user", parts=[])
                contents.append(answers)
            answers.parts.append(part)
            continue
        answers = None
        if role == "user":
            contents.append(Content(role="user", parts=_user_parts(message.content, where)))
        elif role == "assistant":
            raw_message = raw[index] if index < len(raw) and isinstance(raw[index], dict) else {}
            parts = _model_parts(message, raw_message, names, where, signature_fallback)
            if parts:
                contents.append(Content(role="model", parts=parts))
        else:
            raise InvalidRequest(f"Unknown message role `{role}`.", param=f"{where}.role")
    return (Content(parts=system) if system else None), contents


def _texts(content: str | list[dict[str, Any]] | None, where: str) -> list[str]:
    """The text of a message that may only hold text (system, assistant, tool)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for position, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind != "refusal":
            raise InvalidRequest(
                f"Content parts of type `{kind}` are not allowed in this message.",
                param=f"{where}.content[{position}].type",
            )
    return texts


def _user_parts(content: str | list[dict[str, Any]] | None, where: str) -> list[Part]:
    if content is None:
        raise InvalidRequest("A user message needs `content`.", param=f"{where}.content")
    parts = []
    for part in content_parts(content, f"{where}.content"):
        if isinstance(part, TextPart):
            parts.append(Part(text=part.text))
        elif isinstance(part, ImagePart):
            parts.append(_media(part.data, part.url, part.url_param))
        elif isinstance(part, AudioPart):
            parts.append(Part(inline_data=Blob(mime_type=part.media_type, data=part.data)))
        else:
            parts.append(_media(part.data, part.file_id, f"{part.param}.file"))
    return parts


def _media(inline: DataURL | None, url: str | None, param: str) -> Part:
    """A data URL → ``inlineData``; an http(s) or gs URL → ``fileData``."""
    if inline is not None:
        return Part(inline_data=Blob(mime_type=inline.media_type, data=inline.data))
    url = url or ""
    scheme = url.partition(":")[0].lower()
    if scheme not in ("http", "https", "gs"):
        raise InvalidRequest("Expected an http(s) URL, a gs:// URI or a data URL.", param=param)
    path = urlsplit(url).path.lower()
    suffix = path[path.rfind(".") :] if "." in path.rpartition("/")[2] else ""
    return Part(file_data=FileData(file_uri=url, mime_type=_MIME_TYPES.get(suffix)))


def _model_parts(
    message: ChatMessage,
    raw: Mapping[str, Any],
    names: dict[str, str],
    where: str,
    signature_fallback: str | None,
) -> list[Part]:
    parts = [Part(text=text) for text in _texts(message.content, where) if text]
    raw_calls = raw.get("tool_calls")
    raw_calls = raw_calls if isinstance(raw_calls, list) else []
    calls: list[Part] = []
    for position, call in enumerate(message.tool_calls or ()):
        param = f"{where}.tool_calls[{position}].function.arguments"
        names[call.id] = call.function.name
        raw_call = raw_calls[position] if position < len(raw_calls) else None
        calls.append(
            Part(
                function_call=FunctionCall(
                    name=call.function.name, args=_arguments(call.function.arguments, param)
                ),
                thought_signature=thought_signature(raw_call),
            )
        )
    if calls and signature_fallback and all(p.thought_signature is None for p in calls):
        # Gemini 3 refuses a function call turn without the signature it issued; a history
        # that never had one (another model wrote it) carries Google's documented stand-in.
        calls[0].thought_signature = signature_fallback
    return parts + calls


def thought_signature(tool_call: Any) -> str | None:
    """The signature kept in ``tool_call.extra_content.google`` (Google's OpenAI dialect)."""
    if not isinstance(tool_call, Mapping):
        return None
    extra = tool_call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    value = google.get("thought_signature") if isinstance(google, Mapping) else None
    return value if isinstance(value, str) and value else None


def _arguments(arguments: str, param: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = _decode_json(arguments)
    except msgspec.DecodeError:
        raise InvalidRequest("Tool call arguments must be a JSON object.", param=param) from None
    if not isinstance(value, dict):
        raise InvalidRequest("Tool call arguments must be a JSON object.", param=param)
    return value


def _function_response(message: ChatMessage, names: Mapping[str, str], where: str) -> Part:
    name = names.get(message.tool_call_id or "") or message.name
    if not name:
        raise InvalidRequest(
            "This tool message answers no tool call of an earlier assistant message.",
            param=f"{where}.tool_call_id",
        )
    text = "".join(_texts(message.content, where))
    try:
        value = _decode_json(text)
    except msgspec.DecodeError:
        value = None
    # Google suggests "output" for a function's result; a JSON object result is passed whole.
    response = value if isinstance(value, dict) else {"output": text}
    return Part(function_response=FunctionResponse(name=name, response=response))


# --- tools -----------------------------------------------------------------------------------


def _tools(params: ChatCompletionParams) -> list[Tool] | None:
    declarations = []
    for position, tool in enumerate(params.tools or ()):
        if tool.type != "function":
            raise InvalidRequest(
                f"Tools of type `{tool.type}` are not supported by Gemini.",
                param=f"tools[{position}].type",
            )
        function = tool.function
        parameters = to_gemini_schema(function.parameters) if function.parameters else None
        if parameters is not None and not parameters.get("properties"):
            # Gemini refuses an OBJECT without properties; a function without arguments
            # is declared without parameters.
            parameters = None
        declarations.append(
            FunctionDeclaration(
                name=function.name, description=function.description, parameters=parameters
            )
        )
    return [Tool(function_declarations=declarations)] if declarations else None


def _tool_config(choice: str | dict[str, Any] | None) -> ToolConfig | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
        if choice not in modes:
            raise InvalidRequest(
                "`tool_choice` must be `none`, `auto`, `required` or a named function.",
                param="tool_choice",
            )
        config = FunctionCallingConfig(mode=modes[choice])
    else:
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if choice.get("type") != "function" or not isinstance(name, str) or not name:
            raise InvalidRequest(
                "`tool_choice` must name a function: "
                '{"type": "function", "function": {"name": ...}}.',
                param="tool_choice",
            )
        config = FunctionCallingConfig(mode="ANY", allowed_function_names=[name])
    return ToolConfig(function_calling_config=config)


# --- generation config -----------------------------------------------------------------------


def _generation_config(params: ChatCompletionParams) -> GenerationConfig | None:
    if params.logprobs:
        raise InvalidRequest("Gemini models do not return `logprobs`.", param="logprobs")
    stop = params.stop
    config = GenerationConfig(
        stop_sequences=[stop] if isinstance(stop, str) else (stop or None),
        candidate_count=params.n if params.n is not None and params.n != 1 else None,
        max_output_tokens=params.max_output_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        seed=params.seed,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
    )
    effort = params.reasoning_effort
    if effort is not None:
        if effort not in _THINKING_BUDGETS:
            raise InvalidRequest(
                "`reasoning_effort` must be one of " + ", ".join(_THINKING_BUDGETS) + ".",
                param="reasoning_effort",
            )
        config.thinking_config = ThinkingConfig(thinking_budget=_THINKING_BUDGETS[effort])
    _response_format(params.response_format, config)
    return config if config != GenerationConfig() else None


def _response_format(response_format: dict[str, Any] | None, config: GenerationConfig) -> None:
    if response_format is None:
        return
    kind = response_format.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        config.response_mime_type = "application/json"
        return
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        config.response_mime_type = "application/json"
        if isinstance(schema, Mapping):
            config.response_schema = to_gemini_schema(schema)
        return
    raise InvalidRequest(
        "`response_format.type` must be `text`, `json_object` or `json_schema`.",
        param="response_format.type",
    )
