"""JSON Schema → Gemini's Schema subset (unit tests of the translation function)."""

from __future__ import annotations

from typing import Any

import pytest

from plugbay_gemini._schema import to_gemini_schema

CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("not-a-schema", True, {}),
    (
        "unknown-keys-dropped",
        {
            "type": "object",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "x",
            "additionalProperties": False,
            "patternProperties": {"^x": {"type": "string"}},
            "examples": [{}],
            "properties": {"a": {"type": "string", "title": "A", "default": "z", "pattern": "^a"}},
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string", "title": "A", "default": "z", "pattern": "^a"}},
        },
    ),
    (
        "nullable-type-list",
        {"type": ["integer", "null"], "minimum": 1},
        {"type": "integer", "minimum": 1, "nullable": True},
    ),
    (
        "several-types",
        {"type": ["string", "number"]},
        {"anyOf": [{"type": "string"}, {"type": "number"}]},
    ),
    ("only-null", {"type": "null"}, {"nullable": True}),
    (
        "any-of-with-null",
        {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "description": "d"},
        {"type": "string", "maxLength": 3, "description": "d", "nullable": True},
    ),
    (
        "one-of-becomes-any-of",
        {"oneOf": [{"type": "string"}, {"type": "integer", "format": "int64"}]},
        {"anyOf": [{"type": "string"}, {"type": "integer", "format": "int64"}]},
    ),
    ("const", {"const": "fixed"}, {"type": "string", "enum": ["fixed"]}),
    ("non-string-enum-dropped", {"type": "integer", "enum": [1, 2]}, {"type": "integer"}),
    (
        "formats-filtered",
        {
            "type": "object",
            "properties": {
                "a": {"type": "string", "format": "email"},
                "b": {"type": "string", "format": "date-time"},
                "c": {"type": "number", "format": "double"},
                "d": {"type": "integer", "format": "uint8"},
            },
        },
        {
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string", "format": "date-time"},
                "c": {"type": "number", "format": "double"},
                "d": {"type": "integer"},
            },
        },
    ),
    (
        "required-filtered-and-empty-properties-dropped",
        {
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {}}},
            "required": ["a", "ghost", "a"],
        },
        {"type": "object", "properties": {"a": {"type": "object"}}, "required": ["a"]},
    ),
    (
        "refs-inlined",
        {
            "type": "object",
            "definitions": {
                "Point": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}},
                    "required": ["x"],
                }
            },
            "properties": {
                "p": {"$ref": "#/definitions/Point", "description": "Where."},
                "ps": {"type": "array", "items": {"$ref": "#/definitions/Point"}, "minItems": 1},
            },
        },
        {
            "type": "object",
            "properties": {
                "p": {
                    "type": "object",
                    "description": "Where.",
                    "properties": {"x": {"type": "number"}},
                    "required": ["x"],
                },
                "ps": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"x": {"type": "number"}},
                        "required": ["x"],
                    },
                },
            },
        },
    ),
    (
        "recursive-ref-left-open",
        {
            "$defs": {
                "Node": {
                    "type": "object",
                    "description": "A node.",
                    "properties": {
                        "value": {"type": "string"},
                        "next": {"$ref": "#/$defs/Node", "description": "The next one."},
                    },
                }
            },
            "$ref": "#/$defs/Node",
        },
        {
            "type": "object",
            "description": "A node.",
            "properties": {
                "value": {"type": "string"},
                # Gemini has no recursion: the node that would recurse is left open.
                "next": {"description": "The next one."},
            },
        },
    ),
    ("unknown-ref", {"$ref": "https://example.com/schema.json"}, {}),
    (
        "all-of-merged",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
            ]
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
            "required": ["a", "b"],
        },
    ),
    ("tuple-items-dropped", {"type": "array", "items": [{"type": "string"}]}, {"type": "array"}),
]


@pytest.mark.parametrize(("schema", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_to_gemini_schema(schema: Any, expected: dict[str, Any]) -> None:
    assert to_gemini_schema(schema) == expected


def test_input_is_not_modified() -> None:
    schema = {"type": ["string", "null"], "$defs": {"A": {"type": "string"}}, "properties": {}}
    copy = {"type": ["string", "null"], "$defs": {"A": {"type": "string"}}, "properties": {}}
    to_gemini_schema(schema)
    assert schema == copy


def test_depth_is_bounded() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(100):
        schema = {"type": "array", "items": schema}
    converted = to_gemini_schema(schema)
    depth = 0
    while "items" in converted:
        converted, depth = converted["items"], depth + 1
    assert depth == 33
