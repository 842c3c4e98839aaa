"""One wording for pydantic validation errors in user-facing messages.

Readers of user files (recipes, stores, run files, metric settings) validate what they read with
pydantic models and turn a ValidationError into a DisdiffError; this gives all of them the same
short ``key: problem`` summary instead of pydantic's multi-line report, and says an unknown key
is one, with the nearest key the section knows (pydantic says "Extra inputs are not
permitted")."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field's annotation holds (``X``, ``X | None``, ``list[X]``), if any:
    the section a dotted key walks into."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := nested_model(arg)) is not None:
            return found
    return None


def keys_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys the section at ``loc`` (a path of field names and list indices below
    ``model``) takes; [] when it is not a pydantic section."""
    node: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list item: the list's field already led to its item model
        if node is None or part not in node.model_fields:
            return []
        node = nested_model(node.model_fields[part].annotation)
    return list(node.model_fields) if node is not None else []


def error_message(error: Any, model: type[BaseModel] | None = None) -> str:
    """pydantic's message for one error, except for an unknown key of ``model``: said so, with
    the nearest known key (or the keys the section takes)."""
    if error["type"] != "extra_forbidden" or model is None or not error["loc"]:
        return str(error["msg"])
    known = keys_at(model, error["loc"][:-1])
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (this section takes: {', '.join(known)})" if known else "unknown key"


def closest_hint(name: str, names: Sequence[str]) -> str:
    """`` Did you mean 'a' or 'b'?`` for the (up to three) ``names`` closest to a mistyped
    ``name``, or "" when none is close."""
    close = difflib.get_close_matches(name, names, n=3)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


def describe(exc: ValidationError, *, model: type[BaseModel] | None = None,
             top: str = "(top level)", limit: int = 3) -> str:
    """``key.sub: message; …`` for the first ``limit`` problems (``top`` names the whole);
    ``model``, the model that was validated, lets an unknown key name its nearest known one."""
    problems = [f"{'.'.join(map(str, error['loc'])) or top}: {error_message(error, model)}"
                for error in exc.errors()[:limit]]
    more = len(exc.errors()) - limit
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")
