"""Turn msgspec's validation messages into a field name and a sentence."""

from __future__ import annotations

import re

import msgspec

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<field>[^`]+)`")


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
