"""The ``${VAR}`` substitution of config files, and the error every config problem raises.

A substituted string may fill a typed field (``port = "${PORT}"``) where a literal one may not
(``port = "4000"`` is an error): :func:`filled_paths` finds the substituted strings and
:func:`convert_filled` converts them leniently, the rest strictly.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

__all__ = ["ConfigError", "child", "convert_filled", "expand", "filled_paths", "plain"]

T = TypeVar("T")
Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration problem, phrased for the person who wrote the file."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source, self.key, self.reason = source, key, message
        prefix = "".join(f"{part}: " for part in (source, key) if part)
        super().__init__(prefix + message)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Filled(str):
    """A string that came from ``${VAR}``: it may fill a number or boolean field."""

    __slots__ = ()


def expand(
    value: Any, key: str, env: Mapping[str, str], source: str, skip: frozenset[str] = frozenset()
) -> Any:
    if isinstance(value, str):
        if _VAR.search(value) is None:
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set", source=source, key=key)

        return _Filled(_VAR.sub(substitute, value))
    if isinstance(value, dict):
        return {
            k: expand(v, f"{key}.{k}" if key else k, env, source)
            for k, v in value.items()
            if not (not key and k in skip)
        }
    if isinstance(value, list):
        return [expand(v, f"{key}[{i}]", env, source) for i, v in enumerate(value)]
    return value


def filled_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, _Filled):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from filled_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from filled_paths(v, (*path, i))


def plain(value: Any) -> Any:
    if isinstance(value, _Filled):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def convert_filled(data: dict[str, Any], type: builtins.type[T], paths: Sequence[Path_]) -> T:
    """Strict conversion, except that a ``${VAR}`` value (at ``paths``) may fill a typed field.

    ``port = "4000"`` in the file is an error; ``port = "${PORT}"`` with ``PORT=4000`` is not.
    A lax pass converts the substituted strings; their converted values are put back into
    the document, which is then converted strictly.
    """
    if paths:
        lax = msgspec.to_builtins(msgspec.convert(data, type, strict=False), enc_hook=str)
        for path in paths:
            target: Any = data
            converted: Any = lax
            for part in path[:-1]:
                target, converted = target[part], child(converted, part)
            last = path[-1]
            value = child(converted, last)
            # a key the settings do not keep as it is: the plain string
            target[last] = str(target[last]) if value is None else value
    return msgspec.convert(data, type, strict=True)
