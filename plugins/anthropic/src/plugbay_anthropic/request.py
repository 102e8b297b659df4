"""OpenAI chat completion request → Messages API request.

:func:`translate` is pure: it returns the native body, what the answer's translation must
know (the forced tool standing in for ``response_format``), and notes on what it dropped or
adjusted, which the provider logs at debug level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from plugbay import InvalidRequest
from plugbay.wire import FilePart, ImagePart, TextPart, content_parts
from plugbay_anthropic.tools import tool_setup
from plugbay_anthropic.wire import (
    Base64Source,
    Block,
    DocumentBlock,
    ImageBlock,
    Message,
    MessagesRequest,
    Metadata,
    Source,
    TextBlock,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    URLSource,
)

if TYPE_CHECKING:
    from plugbay import ChatRequest
    from plugbay.schemas import ChatMessage, ToolCall
    from plugbay_anthropic.options import TranslationOptions

__all__ = ["Plan", "translate"]

# Top-level OpenAI fields this module turns into something; every other field is dropped.
_HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "user",
        "reasoning_effort",
    }
)
# Messages API fields a client may send as they are (the openai SDK's ``extra_body``).
_NATIVE = frozenset({"top_k", "thinking"})
_MIN_THINKING_BUDGET = 1024


class Plan:
    """A translated request."""

    __slots__ = ("body", "json_tool", "notes")

    def __init__(self, body: MessagesRequest, json_tool: str | None, notes: list[str]) -> None:
        self.body = body
        self.json_tool = json_tool
        """The forced tool standing in for ``response_format``: its input is the answer."""
        self.notes = notes


def translate(
    request: ChatRequest,
    options: TranslationOptions,
    *,
    model: str | None,
    anthropic_version: str | None = None,
    stream: bool = False,
) -> Plan:
    """The Messages API body for ``request`` (``model=None`` leaves it out, as Vertex wants)."""
    params = request.params
    body = request.body
    notes: list[str] = []
    if params.n is not None and params.n != 1:
        raise InvalidRequest("This model can only return one choice: `n` must be 1.", param="n")
    for legacy in ("functions", "function_call"):
        if legacy in body:
            raise InvalidRequest(
                f"`{legacy}` is not supported by this model; use `tools` and `tool_choice`.",
                param=legacy,
            )
    dropped = sorted(key for key in body if key not in _HANDLED and key not in _NATIVE)
    if dropped:
        notes.append("dropped fields without a Messages API equivalent: " + ", ".join(dropped))

    system, messages = _conversation(request, notes)
    max_tokens = params.max_output_tokens
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else None
    effort_thinks = False  # reasoning_effort turned thinking on (not the client's `thinking`)
    if thinking is None and params.reasoning_effort not in (None, "none"):
        thinking, max_tokens = _thinking(params.reasoning_effort, max_tokens, options, notes)
        effort_thinks = thinking is not None
    if max_tokens is None:
        max_tokens = options.default_max_tokens

    temperature = params.temperature
    if temperature is not None and temperature > 1:
        notes.append(f"temperature {temperature} is above the Messages API's maximum; sent 1")
        temperature = 1.0
    stop = params.stop
    top_k = body.get("top_k")
    tools, tool_choice, output_config, json_tool = tool_setup(request, options, notes)
    if effort_thinks:
        _check_thinking(
            request, temperature, top_k if isinstance(top_k, int) else None, tool_choice, json_tool
        )
    native = MessagesRequest(
        model=model,
        anthropic_version=anthropic_version,
        system=system,
        messages=messages,
        max_tokens=max_tokens,
        stop_sequences=([stop] if isinstance(stop, str) else stop) or None,
        temperature=temperature,
        top_p=params.top_p,
        top_k=top_k if isinstance(top_k, int) else None,
        tools=tools,
        tool_choice=tool_choice,
        thinking=thinking,
        output_config=output_config,
        metadata=Metadata(params.user) if params.user else None,
        stream=True if stream else None,
    )
    return Plan(native, json_tool, notes)


def _thinking(
    effort: str, max_tokens: int | None, options: TranslationOptions, notes: list[str]
) -> tuple[dict[str, Any] | None, int | None]:
    """Extended thinking for a ``reasoning_effort``, and the ``max_tokens`` that allows it.

    OpenAI's ``max_completion_tokens`` covers reasoning and answer, like ``max_tokens`` with
    thinking; the budget must stay below it. Without a limit, the budget comes on top of
    ``default_max_tokens``.
    """
    budget = options.thinking_budgets.get(effort)
    if budget is None:
        notes.append(f"reasoning_effort {effort!r} has no thinking budget; thinking left off")
        return None, max_tokens
    if max_tokens is None:
        max_tokens = options.default_max_tokens + budget
    elif max_tokens <= _MIN_THINKING_BUDGET:
        notes.append(f"max tokens {max_tokens} leave no room for thinking; thinking left off")
        return None, max_tokens
    else:
        budget = min(budget, max_tokens - 1)
    return {"type": "enabled", "budget_tokens": max(budget, _MIN_THINKING_BUDGET)}, max_tokens


_MIN_THINKING_TOP_P = 0.95


def _check_thinking(
    request: ChatRequest,
    temperature: float | None,
    top_k: Any,
    tool_choice: ToolChoice | None,
    json_tool: str | None,
) -> None:
    """Refuse, with a 400 naming the parameter, what Anthropic refuses with thinking on.

    Anthropic's extended-thinking documentation (feature compatibility): thinking is not
    compatible with a modified ``temperature`` or ``top_k``, nor with forced tool use
    (``tool_choice`` ``any`` or ``tool``: only ``auto`` and ``none``); ``top_p`` may be set
    between 0.95 and 1. None of them can be changed without changing what the client asked
    for, so the client is told which one conflicts rather than given another answer.
    """
    params = request.params
    effort = f"`reasoning_effort` {params.reasoning_effort!r} turns on extended thinking"
    if temperature is not None and temperature != 1:
        raise InvalidRequest(
            f"{effort}, which runs at temperature 1: leave `temperature` out or set it to 1.",
            param="temperature",
        )
    if params.top_p is not None and params.top_p < _MIN_THINKING_TOP_P:
        raise InvalidRequest(f"{effort}, which allows `top_p` only from 0.95 to 1.", param="top_p")
    if top_k is not None:
        raise InvalidRequest(f"{effort}, which does not allow `top_k`.", param="top_k")
    if tool_choice is None or tool_choice.type not in ("any", "tool"):
        return
    choice = params.tool_choice
    if choice == "required" or isinstance(choice, dict):
        raise InvalidRequest(
            f"{effort}, which cannot be combined with forced tool use: set `tool_choice` "
            "to `auto` or `none`, or leave `reasoning_effort` out.",
            param="tool_choice",
        )
    assert json_tool is not None  # the only other source of a forced tool
    raise InvalidRequest(
        f"{effort}, which cannot be combined with forced tool use, and this provider answers "
        "`response_format` with a forced tool: leave `reasoning_effort` or `response_format` "
        'out (or use a provider with `structured_output = "native"`).',
        param="response_format",
    )


# --- messages -------------------------------------------------------------------------------


def _conversation(
    request: ChatRequest, notes: list[str]
) -> tuple[str | list[TextBlock] | None, list[Message]]:
    """``system`` and the alternating turns; tool results join the user turn they open."""
    raw_messages = request.body.get("messages")
    raw_list: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    system: list[TextBlock] = []
    turns: list[Message] = []
    for i, message in enumerate(request.params.messages):
        where = f"messages[{i}]"
        raw = raw_list[i] if i < len(raw_list) and isinstance(raw_list[i], dict) else {}
        role = message.role
        if role in ("system", "developer"):
            blocks: list[Block] = list(_text_blocks(message.content, f"{where}.content"))
            _mark_cache(blocks, raw.get("cache_control"))
            system.extend(b for b in blocks if isinstance(b, TextBlock))
            continue
        if role == "user":
            blocks = _user_blocks(message.content, f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where, notes)
            if not blocks:
                notes.append(f"{where} has neither content nor tool calls; left out")
                continue
        elif role == "tool":
            if not message.tool_call_id:
                raise InvalidRequest(
                    "A `tool` message needs a `tool_call_id`.", param=f"{where}.tool_call_id"
                )
            blocks = [
                ToolResultBlock(message.tool_call_id, _result_content(message.content, where))
            ]
            role = "user"
        else:
            raise InvalidRequest(
                f"The role `{role}` is not supported by this model.", param=f"{where}.role"
            )
        _mark_cache(blocks, raw.get("cache_control"))
        if turns and turns[-1].role == role:
            turns[-1].content.extend(blocks)
        else:
            turns.append(Message(role, blocks))
    if not system:
        return None, turns
    if len(system) == 1 and system[0].cache_control is None:
        return system[0].text, turns
    return system, turns


def _mark_cache(blocks: list[Block], cache_control: Any) -> None:
    """A message-level ``cache_control`` marks the message's last block, as Anthropic wants."""
    if isinstance(cache_control, dict) and blocks:
        blocks[-1].cache_control = cache_control


def _text_blocks(content: str | list[dict[str, Any]] | None, where: str) -> list[TextBlock]:
    if content is None or isinstance(content, str):
        return [TextBlock(content)] if content else []
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type")
        text = part.get("refusal") if kind == "refusal" else part.get("text")
        if kind not in ("text", "refusal") or not isinstance(text, str):
            raise InvalidRequest(
                f"Only text content parts are supported here, not `{kind}`.",
                param=f"{where}[{j}].type",
            )
        if text:
            blocks.append(TextBlock(text, _cache_control(part)))
    return blocks


def _cache_control(part: dict[str, Any]) -> dict[str, Any] | None:
    value = part.get("cache_control")
    return value if isinstance(value, dict) else None


def _user_blocks(content: str | list[dict[str, Any]] | None, where: str) -> list[Block]:
    blocks: list[Block] = []
    for part in content_parts(content, where):
        cache = _cache_control(part.raw)
        if isinstance(part, TextPart):
            if part.text:
                blocks.append(TextBlock(part.text, cache))
        elif isinstance(part, ImagePart):
            blocks.append(ImageBlock(_source(part), cache))
        elif isinstance(part, FilePart):
            blocks.append(DocumentBlock(_document(part), cache))
        else:
            kind = part.raw.get("type")
            raise InvalidRequest(
                f"Content parts of type `{kind}` are not supported by this model.",
                param=f"{part.param}.type",
            )
    return blocks


def _source(part: ImagePart) -> Source:
    if part.data is not None:
        return Base64Source(media_type=part.data.media_type, data=part.data.data)
    url = part.url or ""
    if url.startswith(("https://", "http://")):
        return URLSource(url)
    raise InvalidRequest(
        "An image URL must be an http(s) URL or a base64 data URL.", param=part.url_param
    )


def _document(part: FilePart) -> Source:
    where = f"{part.param}.file.file_data"
    if part.data is None:
        raise InvalidRequest(
            "Only files sent inline as `file_data` (a base64 PDF data URL) are supported.",
            param=where,
        )
    if part.data.media_type != "application/pdf":
        raise InvalidRequest("Only PDF files are supported as file parts.", param=where)
    return Base64Source(media_type=part.data.media_type, data=part.data.data)


def _assistant_blocks(message: ChatMessage, where: str, notes: list[str]) -> list[Block]:
    blocks: list[Block] = list(_text_blocks(message.content, f"{where}.content"))
    if message.reasoning_content:
        # Thinking goes back to Anthropic only with its signature, which OpenAI's format lacks.
        notes.append(f"{where}.reasoning_content cannot be replayed; left out")
    for k, call in enumerate(message.tool_calls or ()):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{k}]"))
    return blocks


def _tool_use(call: ToolCall, where: str) -> ToolUseBlock:
    if call.type != "function":
        raise InvalidRequest("Only `function` tool calls are supported.", param=f"{where}.type")
    arguments = call.function.arguments.strip() or "{}"
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            "Tool call arguments must be a JSON object to be sent to this model.",
            param=f"{where}.function.arguments",
        )
    return ToolUseBlock(id=call.id, name=call.function.name, input=msgspec.Raw(arguments.encode()))


def _result_content(
    content: str | list[dict[str, Any]] | None, where: str
) -> str | list[TextBlock | ImageBlock]:
    if content is None or isinstance(content, str):
        return content or ""
    blocks: list[TextBlock | ImageBlock] = []
    for block in _user_blocks(content, f"{where}.content"):
        if not isinstance(block, TextBlock | ImageBlock):
            raise InvalidRequest(
                "Tool results may hold only text and images.", param=f"{where}.content"
            )
        blocks.append(block)
    return blocks
