"""Turn msgspec's validation messages into a field name and a sentence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<field>[^`]+)`")


MAX_DEPTH = 32
"""How deeply a JSON body of the admin API may nest (``metadata`` included)."""


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first container nested deeper than ``limit``, else ``None``.

    Iterative: a body nested 100,000 levels deep must not exhaust the stack here either.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if depth > limit:
            return path or "$"
        for key, child in children:
            if isinstance(child, dict | list):
                step = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip(".")
                stack.append((child, step, depth + 1))
    return None


def describe(error: msgspec.ValidationError) -> tuple[str | None, str]:
    """``(param, message)``: ``param`` is the dotted path of the field at fault, if any.

    >>> describe(msgspec.ValidationError("Expected `str`, got `int` - at `$.messages[0].role`"))
    ('messages[0].role', 'Expected `str`, got `int`')
    """
    match = _AT.match(str(error))
    assert match is not None  # the pattern matches every string
    message, path = match["msg"], (match["path"] or "").lstrip(".")
    if message.startswith(("Object missing required field", "Object contains unknown field")):
        field = _FIELD.search(message)
        if field is not None:
            path = f"{path}.{field['field']}" if path else field["field"]
    return (path or None), message


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # no CR, LF or NUL in header values
MAX_NAME = 256


def name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` cannot name a provider or model (it must be reachable in a URL path)."""
    if not name.strip():
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if _CONTROL.search(name) or "\t" in name:
        return "must not contain control characters"
    if kind == "provider" and "/" in name:
        return "must not contain '/' (a provider is addressed as /admin/providers/{name})"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "must not start or end with '/' nor contain '//'"
    return None


def headers_problem(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """``(header, why)`` for the first header that cannot be sent, else ``None``."""
    for name, value in headers.items():
        if not _TOKEN.match(name):
            return name, "is not a valid header name"
        if _CONTROL.search(value):
            return name, "must not contain CR, LF or other control characters"
    return None
