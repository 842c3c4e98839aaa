"""Composing a recipe: ``extends:`` inheritance (deep merge; paths relative to the file, or
shipped recipe names) and ``--set dotted.key=value`` overrides, remembering which file (or
override) set each key so that a validation error can name where the bad value came from."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from disdiff_core.errors import RecipeError
from disdiff_core.recipes.yaml_io import parse_scalar, read_yaml
from disdiff_core.validation import nested_model

OVERRIDE_ORIGIN = "--set"


@dataclass
class ComposedRecipe:
    """The merged mapping of a recipe and the origin (file or ``--set``) of every leaf key."""

    data: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def origin_of(self, dotted: str) -> str:
        """The file (or ``--set``) that set ``dotted`` or its closest parent key."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            key = ".".join(parts[:end])
            if key in self.origins:
                return self.origins[key]
        return str(self.path) if self.path else "<recipe>"


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` onto ``base``: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _leaf_keys(data: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        yield dotted
        if isinstance(value, Mapping):
            yield from _leaf_keys(value, dotted + ".")


def _parent_file(path: Path, parent: str) -> Path:
    """The file ``extends: parent`` in the recipe at ``path`` means: a path relative to that
    recipe when there is such a file, else a shipped recipe name (``tiny/disdiff``), found as
    the command line finds one."""
    from disdiff_core.recipes.resolve import find_shipped

    if (path.parent / parent).is_file():
        return path.parent / parent
    try:
        return find_shipped(parent, f"no recipe file {path.parent / parent}")
    except RecipeError as exc:
        raise RecipeError(f"{path}: extends: {parent!r}: {exc}") from None


def _compose_file(path: Path, chain: tuple[Path, ...]) -> ComposedRecipe:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise RecipeError(f"recipe inheritance cycle: {cycle}")
    data = read_yaml(path)
    parents = data.pop("extends", None) or []
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise RecipeError(f"{path}: extends must be a recipe (file or shipped name) or a "
                          "list of them")
    composed = ComposedRecipe({}, {}, path)
    for parent in parents:
        base = _compose_file(_parent_file(path, parent), (*chain, path))
        composed.data = deep_merge(composed.data, base.data)
        composed.origins.update(base.origins)
    composed.data = deep_merge(composed.data, data)
    composed.origins.update({key: str(path) for key in _leaf_keys(data)})
    return composed


def _list_index(items: list[Any], key: str, dotted: str, where: str) -> int:
    """``key`` as an index into ``items`` (the list at ``where``), or a RecipeError saying
    which indices exist."""
    if not key.isascii() or not key.isdigit():
        raise RecipeError(f"--set {dotted}: {where} is a list; index it with a number, not {key!r}")
    index = int(key)
    if index >= len(items):
        held = f"0..{len(items) - 1}" if items else "none, it is empty"
        raise RecipeError(f"--set {dotted}: {where} has no item {index} (items: {held})")
    return index


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``dotted`` (keys of mappings and indices of lists: ``losses.1.params.weight``) to
    ``value``; missing (or empty, ``key:`` alone) mapping keys become sections, list items
    must exist."""
    keys = dotted.split(".")
    if "" in keys:
        raise RecipeError(f"--set {dotted}: empty key (two dots, or a dot at an end)")
    node: Any = data
    for depth, key in enumerate(keys):
        parent = ".".join(keys[:depth]) or "(top level)"
        if isinstance(node, list):
            slot: Any = _list_index(node, key, dotted, parent)
        elif isinstance(node, dict):
            slot = key
        else:
            raise RecipeError(f"--set {dotted}: {parent} is a value, not a section or list")
        if depth == len(keys) - 1:
            node[slot] = value
        elif isinstance(node, dict):
            if node.get(slot) is None:
                node[slot] = {}
            node = node[slot]
        else:
            node = node[slot]


def _missing_sections(data: dict[str, Any], dotted: str) -> list[str]:
    """The sections above ``dotted`` that setting it creates (``nope`` for ``nope.x``), so that
    an error about one names ``--set``, not the recipe file."""
    keys = dotted.split(".")
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, dict) and node.get(key) is not None:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return [".".join(keys[:end]) for end in range(depth + 1, len(keys))]
    return []


def _as_data(value: Any) -> Any:
    """A recipe model's default (a section, a list of them, a plain value) as recipe data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_as_data(item) for item in value]
    return copy.deepcopy(value)


def _fill_defaults(data: dict[str, Any], dotted: str) -> None:
    """Write the recipe model's default of each section on the way to ``dotted`` that the
    recipe leaves out into ``data``, so ``--set sample.sampler.params.steps=10`` changes the
    default sampler's steps (instead of making a sampler that names no plugin) and
    ``--set eval.metrics.0.mode=fast`` finds the default metric list. Sections whose default
    is None (an optional component) stay missing; setting into one creates it."""
    from disdiff_core.recipes.model import Recipe

    model: type[BaseModel] | None = Recipe
    node: Any = data
    for key in dotted.split(".")[:-1]:
        if isinstance(node, list):  # the list's field already led to its item model
            if not key.isdigit() or int(key) >= len(node):
                return
            node = node[int(key)]
            continue
        if not isinstance(node, dict) or model is None or key not in model.model_fields:
            return
        model_field = model.model_fields[key]
        if node.get(key) is None:
            if model_field.is_required():
                return
            default = model_field.get_default(call_default_factory=True)
            if default is None:
                return
            node[key] = _as_data(default)
        node = node[key]
        model = nested_model(model_field.annotation)


def apply_overrides(composed: ComposedRecipe, overrides: Iterable[str]) -> ComposedRecipe:
    """Apply ``key=value`` overrides; values are parsed as YAML scalars (``1e-4`` is a float)."""
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        dotted = dotted.strip()
        if not sep or not dotted:
            raise RecipeError(f"--set {item!r}: expected dotted.key=value")
        _fill_defaults(composed.data, dotted)
        created = _missing_sections(composed.data, dotted)
        _set_dotted(composed.data, dotted, parse_scalar(raw))
        composed.origins[dotted] = OVERRIDE_ORIGIN
        composed.origins.update(dict.fromkeys(created, OVERRIDE_ORIGIN))
    return composed


def compose(path: str | Path, overrides: Iterable[str] = ()) -> ComposedRecipe:
    """Read a recipe with everything it extends and apply the overrides."""
    composed = _compose_file(Path(path), ())
    return apply_overrides(composed, overrides)
