"""JSON Schema of recipes for editors, with each component's ``params`` typed by its plugin.

The schema is built from the plugins installed now: every component becomes a union over the
plugins of its kind, discriminated by ``plugin``, each branch carrying that plugin's parameter
model, so an editor completes and checks parameters as the toolkit will.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, Field, create_model

from disdiff_core import registry
from disdiff_core.recipes.model import Component, DataSection, EvalSection, Recipe, SampleSection


def _component_union(kind: str) -> Any:
    branches = []
    for entry in registry.list_plugins(kind):
        if entry.spec is None:
            continue
        branch = create_model(
            f"{kind}__{entry.name}".replace("-", "_"),
            __base__=Component,
            __doc__=entry.spec.description,
            plugin=(Literal[entry.name], Field(description=entry.spec.description)),  # type: ignore[valid-type]
            params=(entry.spec.params, Field(default_factory=entry.spec.params)),
        )
        branches.append(branch)
    if not branches:
        return Component
    return Union[tuple(branches)]  # noqa: UP007 - a runtime-built union


def recipe_schema() -> dict[str, Any]:
    """The JSON Schema of a recipe given the installed plugins."""
    first_stage_choices, backbone_choices, encoder_choices, field_choices = (
        _component_union(kind) for kind in ("first_stage", "backbone", "encoder", "field"))
    loss_choices, sampler_choices, metric_choices, dataset_choices = (
        _component_union(kind) for kind in ("loss", "sampler", "metric", "dataset"))
    data = create_model("DataSection", __base__=DataSection,
                        prepare=(Optional[dataset_choices], None))  # noqa: UP045
    sample = create_model("SampleSection", __base__=SampleSection,
                          sampler=(sampler_choices, Field(default_factory=SampleSection().sampler.model_copy)))
    evaluation = create_model("EvalSection", __base__=EvalSection,
                              metrics=(list[metric_choices], Field(default_factory=list)))
    model: type[BaseModel] = create_model(
        "Recipe",
        __base__=Recipe,
        extends=(Union[str, list[str], None], Field(  # noqa: UP007
            None, description="recipes to inherit from (files relative to this one, or shipped names)")),
        data=(data, ...),
        first_stage=(Optional[first_stage_choices], None),  # noqa: UP045
        backbone=(Optional[backbone_choices], None),  # noqa: UP045
        encoder=(Optional[encoder_choices], None),  # noqa: UP045
        field=(Optional[field_choices], None),  # noqa: UP045
        losses=(list[loss_choices], Field(default_factory=list)),
        sample=(sample, Field(default_factory=sample)),
        eval=(evaluation, Field(default_factory=evaluation)),
    )
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "disdiff recipe"
    return schema
