"""JSON Schema → the OpenAPI 3.0 subset Gemini's ``Schema`` accepts.

Gemini refuses a declaration with a key its ``Schema`` message does not have
(``additionalProperties``, ``$ref``, ``$defs``, ``const``...), so tool parameters and
``response_format`` schemas are rewritten: references are inlined, ``type: [x, "null"]`` and
``anyOf: [..., {"type": "null"}]`` become ``nullable``, ``const`` becomes a one-value ``enum``,
``allOf`` is merged, and every other key Gemini does not know is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["to_gemini_schema"]

# The members of Gemini's Schema message (generativelanguage v1beta and Vertex v1).
_PASSTHROUGH = frozenset(
    {
        "title",
        "description",
        "nullable",
        "pattern",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "propertyOrdering",
        "default",
        "example",
    }
)
# Gemini's API accepts only these formats per type and refuses the rest.
_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
_MAX_DEPTH = 32


def to_gemini_schema(schema: Any) -> dict[str, Any]:
    """The Gemini ``Schema`` for a JSON Schema (definitions are looked up in its root)."""
    if not isinstance(schema, Mapping):
        return {}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        value = schema.get(key)
        if isinstance(value, Mapping):
            defs.update({f"#/{key}/{name}": sub for name, sub in value.items()})
    return _convert(schema, defs, (), 0)


def _resolve(
    schema: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...]
) -> tuple[Mapping[str, Any], tuple[str, ...]] | None:
    """``schema`` with its ``$ref`` merged in; ``None`` for a reference back into itself."""
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen or ref not in defs:
            # Gemini has no recursion and no external references: leave the node open.
            return None
        seen = (*seen, ref)
        target = defs[ref]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if isinstance(target, Mapping) else rest
    return schema, seen


def _convert(
    node: Any, defs: Mapping[str, Any], seen: tuple[str, ...], depth: int
) -> dict[str, Any]:
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return {}
    resolved = _resolve(node, defs, seen)
    if resolved is None:
        return {k: v for k, v in node.items() if k == "description" and isinstance(v, str)}
    schema, seen = resolved
    if "allOf" in schema:
        schema = _merge_all_of(schema, defs, seen)
    out: dict[str, Any] = {}
    nullable = False

    type_ = schema.get("type")
    if isinstance(type_, list):
        types = [t for t in type_ if t != "null"]
        nullable = len(types) < len(type_)
        if len(types) == 1:
            type_ = types[0]
        elif types:
            # ["string", "integer"] has no Gemini spelling but anyOf of both.
            out["anyOf"] = [{"type": t} for t in types]
            type_ = None
        else:
            type_ = None
    if isinstance(type_, str):
        if type_ == "null":
            nullable = True
        else:
            out["type"] = type_

    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if not isinstance(variants, list):
            continue
        kept = []
        for variant in variants:
            if isinstance(variant, Mapping) and variant.get("type") == "null" and len(variant) == 1:
                nullable = True
                continue
            kept.append(_convert(variant, defs, seen, depth + 1))
        if len(kept) == 1 and "type" not in out:
            out.update({k: v for k, v in kept[0].items() if k not in out})
        elif kept:
            out["anyOf"] = [*out.get("anyOf", ()), *kept]

    for key, value in schema.items():
        if key in _PASSTHROUGH:
            out[key] = value

    enum = schema.get("enum")
    if "const" in schema:
        enum = [schema["const"]]
    if isinstance(enum, list):
        if None in enum:
            nullable = True
        values = [v for v in enum if v is not None]
        # Gemini's enum is a list of strings; other values cannot be spelled.
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
            out.setdefault("type", "string")

    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = fmt

    properties = schema.get("properties")
    if isinstance(properties, Mapping) and properties:
        out["properties"] = {
            name: _convert(sub, defs, seen, depth + 1) for name, sub in properties.items()
        }
        required = schema.get("required")
        if isinstance(required, list):
            names = list(dict.fromkeys(name for name in required if name in properties))
            if names:
                out["required"] = names

    items = schema.get("items")
    if isinstance(items, Mapping):
        out["items"] = _convert(items, defs, seen, depth + 1)

    if nullable:
        out["nullable"] = True
    return out


def _merge_all_of(
    schema: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...]
) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema.get("allOf") or ():
        resolved = _resolve(part, defs, seen) if isinstance(part, Mapping) else None
        if resolved is None:
            continue
        sub = resolved[0]
        for key, value in sub.items():
            if key == "properties" and isinstance(value, Mapping):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged
