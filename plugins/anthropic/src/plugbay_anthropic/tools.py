"""``tools``, ``tool_choice``, ``parallel_tool_calls`` and ``response_format``.

They are translated together: in ``tool`` mode a JSON ``response_format`` becomes one more
tool, which the model is made to call, and that changes what ``tool_choice`` must say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugbay import InvalidRequest
from plugbay_anthropic.wire import OutputConfig, OutputFormat, Tool, ToolChoice

if TYPE_CHECKING:
    from plugbay import ChatRequest
    from plugbay_anthropic.options import TranslationOptions

__all__ = ["tool_setup"]

_JSON_TOOL_DESCRIPTION = "Respond with a JSON object that matches this schema."


def tool_setup(
    request: ChatRequest, options: TranslationOptions, notes: list[str]
) -> tuple[list[Tool] | None, ToolChoice | None, OutputConfig | None, str | None]:
    """``(tools, tool_choice, output_config, json_tool)`` for the Messages API."""
    params = request.params
    native = options.structured_output == "native"
    tools = _tools(request, native, notes)
    choice = _tool_choice(params.tool_choice, params.parallel_tool_calls)
    if not tools and choice is not None:
        notes.append("tool_choice without tools; left out")
        choice = None

    output_config = None
    json_tool: Tool | None = None
    response_format = params.response_format
    kind = response_format.get("type") if response_format is not None else None
    if kind == "json_schema":
        assert response_format is not None
        spec = response_format.get("json_schema")
        spec = spec if isinstance(spec, dict) else {}
        schema = spec.get("schema")
        schema = schema if isinstance(schema, dict) else {"type": "object"}
        if native:
            output_config = OutputConfig(OutputFormat(schema))
        else:
            name = spec.get("name")
            description = spec.get("description")
            json_tool = Tool(
                name=name if isinstance(name, str) and name else "json_response",
                input_schema=schema,
                description=description if isinstance(description, str) else None,
            )
    elif kind == "json_object":
        # The Messages API has no free-form JSON mode; a tool taking any object is one.
        json_tool = Tool(name="json_object", input_schema={"type": "object"})
    elif kind not in (None, "text"):
        raise InvalidRequest(
            f"`response_format` of type `{kind}` is not supported by this model.",
            param="response_format.type",
        )
    if json_tool is None:
        return tools or None, choice, output_config, None

    if json_tool.description is None:
        json_tool.description = _JSON_TOOL_DESCRIPTION
    if any(tool.name == json_tool.name for tool in tools):
        raise InvalidRequest(
            f"`response_format` is named `{json_tool.name}`, like one of the tools; rename it.",
            param="response_format.json_schema.name",
        )
    forced = ToolChoice("tool", json_tool.name, disable_parallel_tool_use=True)
    if tools and choice is not None and choice.type == "tool":
        pass  # the client forces one of its tools: keep that
    elif tools and (choice is None or choice.type in ("auto", "any")):
        # Either a tool call or the JSON answer, as with OpenAI: never free text.
        single = choice.disable_parallel_tool_use if choice is not None else None
        choice = ToolChoice("any", disable_parallel_tool_use=single)
    else:
        choice = forced
    return [*tools, json_tool], choice, None, json_tool.name


def _tools(request: ChatRequest, native: bool, notes: list[str]) -> list[Tool]:
    raw_tools = request.body.get("tools")
    raw_list: list[Any] = raw_tools if isinstance(raw_tools, list) else []
    tools = []
    strict_dropped = False
    for k, tool in enumerate(request.params.tools or ()):
        if tool.type != "function":
            raise InvalidRequest(
                f"Tools of type `{tool.type}` are not supported by this model.",
                param=f"tools[{k}].type",
            )
        function = tool.function
        raw = raw_list[k] if k < len(raw_list) and isinstance(raw_list[k], dict) else {}
        cache_control = raw.get("cache_control")
        strict = function.strict or None
        if strict and not native:
            # Strict tools need structured outputs, which `structured_output = "native"` says
            # the model has; older models refuse the flag.
            strict, strict_dropped = None, True
        tools.append(
            Tool(
                name=function.name,
                input_schema=function.parameters
                if function.parameters is not None
                else {"type": "object", "properties": {}},
                description=function.description,
                strict=strict,
                cache_control=cache_control if isinstance(cache_control, dict) else None,
            )
        )
    if strict_dropped:
        notes.append("`strict` on tools needs structured_output = 'native'; left out")
    return tools


def _tool_choice(choice: str | dict[str, Any] | None, parallel: bool | None) -> ToolChoice | None:
    single = True if parallel is False else None
    if choice is None:
        return ToolChoice("auto", disable_parallel_tool_use=True) if single else None
    if choice == "auto":
        return ToolChoice("auto", disable_parallel_tool_use=single)
    if choice == "none":
        return ToolChoice("none")
    if choice == "required":
        return ToolChoice("any", disable_parallel_tool_use=single)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return ToolChoice("tool", name, disable_parallel_tool_use=single)
    raise InvalidRequest(
        "`tool_choice` must be `auto`, `none`, `required` or a named function.",
        param="tool_choice",
    )
