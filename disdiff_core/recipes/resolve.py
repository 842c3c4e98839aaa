"""Validating a composed recipe and producing its resolved form.

Resolution checks the recipe's structure, looks every component's plugin up in the registry,
validates its parameters against the plugin's model (filling in defaults), and records which
distribution (and version) supplied each plugin. Errors name the recipe file and the key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import disdiff_core
from disdiff_core import registry
from disdiff_core.errors import PluginError, RecipeError, RunError
from disdiff_core.recipes.compose import ComposedRecipe, compose
from disdiff_core.recipes.model import Component, Recipe
from disdiff_core.recipes.yaml_io import dump_yaml, read_yaml
from disdiff_core.stage_table import COMPONENT_KINDS, IDENTITY_FIRST_STAGE, stage_spec
from disdiff_core.validation import closest_hint, error_message


def recipes_dir() -> Path:
    """Folder of the shipped recipes: ``DISDIFF_RECIPES`` when set, else the source tree's
    ``recipes/`` (a clone or an editable install), else ``<prefix>/share/disdiff/recipes``
    where a wheel install puts them."""
    env = os.environ.get("DISDIFF_RECIPES")
    if env:
        return Path(env)
    source_tree = Path(disdiff_core.__file__).resolve().parent.parent / "recipes"
    if source_tree.is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "disdiff" / "recipes"


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe file by path, or a shipped recipe by name (``quickstart/disdiff`` or
    ``shapes3d/backbone.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    return find_shipped(path, f"no recipe file {str(path)!r}")


def find_shipped(name: str | Path, missing: str) -> Path:
    """The shipped recipe named ``name`` (``quickstart/disdiff`` or ``shapes3d/backbone.yaml``);
    else a RecipeError that starts with ``missing`` (what else was looked for) and gives the
    closest shipped names and all of them."""
    shipped = recipes_dir()
    for candidate in (shipped / name, shipped / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    names = shipped_recipes()
    hint = closest_hint(str(name).removesuffix(".yaml"), names)
    raise RecipeError(f"{missing} and no shipped recipe of that name.{hint} Shipped recipes: "
                      f"{', '.join(names) or 'none'}")


def shipped_recipes() -> list[str]:
    """Names of the shipped recipes (paths under the recipes folder, without ``.yaml``); folders
    starting with ``_`` hold partial bases that other recipes extend, not runnable recipes."""
    root = recipes_dir()
    if not root.is_dir():
        return []
    names = (p.relative_to(root).with_suffix("") for p in root.rglob("*.yaml"))
    return sorted(str(n) for n in names if not any(part.startswith("_") for part in n.parts))


def _format_loc(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_error(composed: ComposedRecipe, exc: ValidationError, prefix: str = "",
                      model: type[BaseModel] | None = None) -> RecipeError:
    lines = []
    for err in exc.errors()[:8]:
        key = _format_loc([p for p in (prefix, *err["loc"]) if p != ""]) or "(top level)"
        lines.append(f"{composed.origin_of(key)}: {key}: {error_message(err, model)}")
    more = len(exc.errors()) - 8
    if more > 0:
        lines.append(f"… and {more} more")
    return RecipeError("invalid recipe:\n  " + "\n  ".join(lines))


def iter_components(recipe: Recipe) -> Iterator[tuple[str, str, Component]]:
    """(dotted key, kind, component) of every component the recipe holds."""
    for key, kind in COMPONENT_KINDS.items():
        node: Any = recipe
        for part in key.split("."):
            node = getattr(node, part) if node is not None else None
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield f"{key}.{i}", kind, item
        elif node is not None:
            yield key, kind, node


def component_of_run(run_dir: str | Path, key: str) -> dict[str, Any]:
    """The raw ``key`` component (a dotted key) of a run's resolved recipe."""
    recipe_file = Path(run_dir) / "recipe.yaml"
    if not recipe_file.is_file():
        raise RunError(f"{run_dir} is not a run directory (no recipe.yaml)")
    node: Any = read_yaml(recipe_file)
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise RunError(f"run {run_dir} has no `{key}` component")
    return node


def _from_run_component(key: str, component: Component) -> Component | None:
    """The component of the same key in an earlier run's resolved recipe, if that run exists
    (it may not yet: a pipeline validates later stages before running earlier ones)."""
    if not (Path(component.from_run or "") / "recipe.yaml").is_file():
        return None
    node = component_of_run(component.from_run or "", key)
    if not node.get("plugin"):
        raise RunError(f"{component.from_run} has no `{key}` plugin to reuse")
    return Component(plugin=node["plugin"], params=node.get("params") or {})


@dataclass
class ResolvedRecipe:
    """A validated recipe, its source file and the provenance of its plugins."""

    recipe: Recipe
    path: Path | None

    @property
    def name(self) -> str:
        return self.recipe.name or (self.path.stem if self.path else "run")

    def to_dict(self) -> dict[str, Any]:
        return self.recipe.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())


def resolve(composed: ComposedRecipe) -> ResolvedRecipe:
    """Validate a composed recipe (structure, then every plugin's parameters)."""
    try:
        recipe = Recipe.model_validate(composed.data)
    except ValidationError as exc:
        raise _validation_error(composed, exc, model=Recipe) from None
    if stage_spec(recipe.stage).names_first_stage and recipe.first_stage is None:
        recipe.first_stage = Component(plugin=IDENTITY_FIRST_STAGE)
    plugins = []
    for key, kind, component in iter_components(recipe):
        if component.from_run is not None:
            earlier = _from_run_component(key, component)
            if earlier is None:  # the earlier stage has not run yet; checked when it has
                continue
            if component.plugin not in (None, earlier.plugin):
                raise RecipeError(
                    f"{composed.origin_of(key)}: {key}: plugin {component.plugin!r} differs from "
                    f"the {earlier.plugin!r} of run {component.from_run}"
                )
            component.plugin = earlier.plugin
            component.params = {**earlier.params, **component.params}
        assert component.plugin is not None
        try:
            entry = registry.entry_for(kind, component.plugin)
        except PluginError as exc:
            raise RecipeError(f"{composed.origin_of(key + '.plugin')}: {key}.plugin: {exc}") from None
        try:
            params = entry.spec.validate(component.params)  # type: ignore[union-attr]
        except ValidationError as exc:
            raise _validation_error(composed, exc, prefix=f"{key}.params",
                                    model=entry.spec.params) from None  # type: ignore[union-attr]
        component.params = params.model_dump(mode="json")
        plugins.append(
            {"key": key, "kind": kind, "plugin": entry.name,
             "distribution": entry.distribution, "version": entry.version}
        )
    recipe.provenance = {"disdiff": disdiff_core.__version__, "plugins": plugins}
    if composed.path is not None:
        recipe.provenance["recipe_file"] = str(composed.path)
    return ResolvedRecipe(recipe, composed.path)


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> ResolvedRecipe:
    """Read, compose, override and validate a recipe (by path or shipped name)."""
    return resolve(compose(find_recipe(path), overrides))
