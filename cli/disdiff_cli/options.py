"""Repeatable ``KEY=VALUE`` options (``data prepare --set``, ``import --option``)."""

from __future__ import annotations

from typing import Any


def key_values(items: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a mapping, values parsed as YAML scalars (``64`` is an int,
    ``false`` a bool, ``[a, b]`` a list); the plugin's parameter model validates them."""
    from disdiff_core.errors import DataError
    from disdiff_core.recipes.yaml_io import parse_scalar

    raw: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataError(f"{flag} expects key=value, got {item!r}")
        raw[key.strip()] = parse_scalar(value)
    return raw
