"""Recipes: YAML files that assemble plugins into a run, validated by pydantic.

``load_recipe(path, overrides)`` is the one entry point: it reads the file and everything it
``extends``, applies ``--set`` overrides, validates the structure and every component's
parameters against its plugin, and returns a :class:`~disdiff_core.recipes.resolve.ResolvedRecipe`.
"""

from disdiff_core.recipes.resolve import ResolvedRecipe, load_recipe

__all__ = ["ResolvedRecipe", "load_recipe"]
