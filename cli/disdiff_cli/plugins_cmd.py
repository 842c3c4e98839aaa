"""``disdiff plugins list|show``: what is installed, from which distribution, and its params."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from disdiff_cli.console import out, print_json

plugins_app = typer.Typer(help="List installed plugins and show their parameters.",
                          no_args_is_help=True)


@plugins_app.command("list")
def list_plugins(
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="only this kind")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List plugins by kind, with their distribution and version; failed ones show their error."""
    from disdiff_core import registry

    entries = registry.list_plugins(kind)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    table = Table(title="disdiff plugins", show_lines=False)
    for column in ("kind", "name", "distribution", "description"):
        table.add_column(column)
    for e in entries:
        description = e.description if e.error is None else f"[red]failed to load: {e.error}[/]"
        table.add_row(e.kind, e.name, f"{e.distribution} {e.version}", description)
    out.print(table)


#: How a bound reads in a table: pydantic keeps ``Field(ge=1)`` as annotated_types' ``Ge(ge=1)``.
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "multiple_of": "a multiple of",
           "min_length": "length ≥", "max_length": "length ≤"}


def _constraint(item: Any) -> str:
    """``≥ 1`` for ``Ge(ge=1)``, ``length ≤ 4`` for ``MaxLen(4)``; anything else as it prints."""
    for attribute, words in _BOUNDS.items():
        if getattr(item, attribute, None) is not None:
            return f"{words} {getattr(item, attribute)}"
    return str(item)


def _field_rows(params_model: Any) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in params_model.model_fields.items():
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        constraints = ", ".join(_constraint(m) for m in field.metadata)
        description = field.description or ""
        if constraints:
            description = f"{description} ({constraints})" if description else constraints
        rows.append((name, annotation.replace("typing.", ""), default, description))
    return rows


@plugins_app.command("show")
def show_plugin(
    name: Annotated[str, typer.Argument(help="plugin name")],
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="kind, if the name is in several")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Schema of the parameters")] = False,
) -> None:
    """Show a plugin's description and its parameters (name, type, default, description)."""
    from disdiff_core import registry
    from disdiff_core.errors import PluginError

    if kind is not None:
        registry.get_plugin(kind, name)
        entries = [registry.entry_for(kind, name)]
    else:
        entries = registry.find_by_name(name)
        if not entries:
            from disdiff_core.validation import closest_hint

            names = sorted({e.name for e in registry.list_plugins()})
            raise PluginError(f"no plugin named {name!r}.{closest_hint(name, names)} "
                              f"Available: {', '.join(names)}")
    for entry in entries:
        spec = registry.get_plugin(entry.kind, entry.name)
        if as_json:
            print_json({**entry.to_json(), "params": spec.params.model_json_schema()})
            continue
        out.print(f"[bold]{entry.kind} {entry.name}[/] — {spec.description}")
        out.print(f"from {entry.distribution} {entry.version} ({entry.target})")
        table = Table("parameter", "type", "default", "description")
        for row in _field_rows(spec.params):
            table.add_row(*row)
        out.print(table)
