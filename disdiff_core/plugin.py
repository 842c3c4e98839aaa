"""What a plugin is: a torch-free description that points at a lazily imported factory.

An entry point in one of the ``disdiff.<kind>`` groups resolves to a :class:`PluginSpec`.
Loading the spec imports only its parameter model (pydantic, no torch), so listing plugins
and validating recipes stay fast; the implementation module named by ``factory`` is imported
only when a run actually builds the component.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Plugin kinds and the entry-point group that registers each one.
KINDS: dict[str, str] = {
    "backbone": "disdiff.backbones",
    "first_stage": "disdiff.first_stages",
    "encoder": "disdiff.encoders",
    "field": "disdiff.fields",
    "sampler": "disdiff.samplers",
    "loss": "disdiff.losses",
    "dataset": "disdiff.datasets",
    "metric": "disdiff.metrics",
    "importer": "disdiff.importers",
}


class Params(BaseModel):
    """Base of every plugin's parameter model: unknown keys are errors, values are validated
    on assignment, and a model can be rebuilt from its ``model_dump()``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class NoParams(Params):
    """Parameter model of a plugin that takes none."""


@dataclass(frozen=True)
class PluginSpec:
    """A registered implementation of one plugin kind.

    Attributes:
        kind: one of :data:`KINDS`.
        name: the name recipes and the CLI use (``unet``, ``dci`` …).
        description: one sentence shown by ``disdiff plugins list``.
        params: the pydantic model of the plugin's parameters (torch-free).
        factory: ``"module:callable"``; called as ``factory(params, **runtime)`` to build the
            component. Imported lazily so that describing a plugin never imports torch.
    """

    kind: str
    name: str
    description: str
    params: type[Params]
    factory: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown plugin kind {self.kind!r}; kinds are {sorted(KINDS)}")
        if ":" not in self.factory:
            raise ValueError(f"factory of {self.kind} {self.name!r} must be 'module:callable'")

    def validate(self, params: dict[str, Any] | Params | None) -> Params:
        """Validate raw parameters (a mapping from a recipe) against the parameter model."""
        if isinstance(params, self.params):
            return params
        if isinstance(params, Params):
            params = params.model_dump()
        return self.params.model_validate(params or {})

    def load_factory(self) -> Any:
        """Import and return the factory callable (this is where torch gets imported)."""
        module_name, _, attr = self.factory.partition(":")
        module = importlib.import_module(module_name)
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
        return target

    def build(self, params: dict[str, Any] | Params | None = None, **runtime: Any) -> Any:
        """Validate ``params`` and call the factory with them and any runtime objects
        (e.g. a backbone for a field, a device)."""
        return self.load_factory()(self.validate(params), **runtime)
