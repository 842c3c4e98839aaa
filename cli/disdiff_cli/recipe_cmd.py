"""``disdiff recipe show|validate|schema|list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.syntax import Syntax

from disdiff_cli.console import out, print_json

recipe_app = typer.Typer(help="Show, validate and describe recipes.", no_args_is_help=True)

RecipeArg = Annotated[str, typer.Argument(help="recipe file, or shipped recipe name (see `recipe list`)")]
SetOpt = Annotated[
    list[str],
    typer.Option("--set", "-s", help="override: dotted.key=value (value parsed as YAML)"),
]


@recipe_app.command("show")
def show(recipe: RecipeArg, overrides: SetOpt = []) -> None:  # noqa: B006 - typer reads it
    """Print the resolved recipe (extends merged, overrides applied, defaults filled)."""
    from disdiff_core.recipes import load_recipe

    resolved = load_recipe(recipe, overrides)
    text = resolved.to_yaml()
    if out.is_terminal:
        out.print(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    else:
        print(text, end="")


@recipe_app.command("validate")
def validate(recipe: RecipeArg, overrides: SetOpt = []) -> None:  # noqa: B006
    """Check a recipe against the installed plugins; exit 1 with the file and key if invalid."""
    from disdiff_core.recipes import load_recipe

    resolved = load_recipe(recipe, overrides)
    plugins = resolved.recipe.provenance["plugins"] if resolved.recipe.provenance else []
    out.print(f"[green]valid[/]: {resolved.path} ({resolved.recipe.stage} stage, "
              f"{len(plugins)} components)")


@recipe_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of recipes (with the installed plugins' parameters)."""
    from disdiff_core.recipes.schema import recipe_schema

    print_json(recipe_schema())


@recipe_app.command("list")
def list_recipes() -> None:
    """List the shipped recipes."""
    from disdiff_core.recipes.resolve import recipes_dir, shipped_recipes

    out.print(f"recipes in {recipes_dir()}:")
    for name in shipped_recipes():
        out.print(f"  {name}")
