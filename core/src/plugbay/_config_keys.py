"""Naming the key at fault in a plugin table's dict, where msgspec says ``[...]``."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

__all__ = ["name_dict_keys"]

Path_ = tuple[str | int, ...]


def name_dict_keys(
    table: dict[str, Any],
    type: builtins.type[Any],
    paths: Sequence[Path_],
    param: str,
    convert: Callable[[dict[str, Any], builtins.type[Any], Sequence[Path_]], Any],
) -> str:
    """``models.gpt-4o.ttl`` for msgspec's ``models[...].ttl``: the key whose value fails.

    Only on the error path: each key is tried alone until the error recurs.
    """
    pieces = param.split("[...]")
    prefix: list[str] = [p for p in pieces[0].split(".") if p]
    named = pieces[0]
    base, kept = table, list(paths)
    for rest in pieces[1:]:
        node: Any = base
        for part in prefix:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return param
        for key in node:
            trial = copy.deepcopy(base)
            target = trial
            for part in prefix:
                target = target[part]
            for other in [k for k in target if k != key]:
                del target[other]
            trial_paths = [p for p in kept if not _dropped(p, prefix, key)]
            try:
                convert(copy.deepcopy(trial), type, trial_paths)
            except msgspec.ValidationError:
                break
        else:
            return param
        base, kept = trial, trial_paths  # the next level looks inside this key only
        named = f"{named}.{key}{rest}"
        prefix = [*prefix, key, *(p for p in rest.split(".") if p)]
    return named


def _dropped(path: Path_, prefix: list[str], key: str) -> bool:
    """Whether filled ``path`` went with the other keys of the dict at ``prefix``."""
    n = len(prefix)
    return len(path) > n and list(path[:n]) == prefix and path[n] != key
