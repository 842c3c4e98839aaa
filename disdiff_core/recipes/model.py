"""The structure of a recipe (torch-free pydantic models; unknown keys are errors).

Each component names a plugin and its parameters; the parameters are checked against the
plugin's own model in :mod:`disdiff_core.recipes.resolve`, because which model applies depends
on the plugin named.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from disdiff_core.engine.config import TrainConfig
from disdiff_core.stage_table import STAGE_NAMES, stage_spec

#: A stage name of the stage table (:mod:`disdiff_core.stage_table`).
Stage = Literal[STAGE_NAMES]  # type: ignore[valid-type]


class Section(BaseModel):
    """Base of recipe sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Component(Section):
    """One plugin with its parameters, or a frozen part taken from an earlier run."""

    plugin: str | None = Field(None, description="plugin name (see `disdiff plugins list`)")
    params: dict[str, Any] = Field(default_factory=dict, description="the plugin's parameters")
    from_run: str | None = Field(
        None,
        description="an earlier run directory whose trained component (weights, plugin and "
        "params) this one reuses, frozen; relative paths are relative to the working directory",
    )
    checkpoint: str | None = Field(
        None, description="a weights file (.safetensors) or model folder to load, frozen"
    )

    @model_validator(mode="after")
    def _plugin_or_run(self) -> Component:
        if self.plugin is None and self.from_run is None:
            raise ValueError("name a `plugin`, or an earlier run in `from_run`")
        return self


class DataSection(Section):
    """Where the training images come from."""

    store: str = Field(description="path of the dataset's zarr store")
    prepare: Component | None = Field(
        None, description="dataset plugin (and params) that creates the store when it is missing"
    )
    source: str | None = Field(
        None, description="source file or folder of a real-format dataset, for `prepare`"
    )
    in_memory: bool | Literal["auto"] = Field(
        "auto", description="load the whole store into RAM (auto: when it fits)"
    )
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")


class SampleSection(Section):
    """How sample grids are drawn (during training and by `disdiff sample`)."""

    sampler: Component = Field(
        default_factory=lambda: Component(plugin="ddim"), description="sampler plugin"
    )
    num_images: int = Field(16, ge=1, description="images per sample grid")


def _default_metrics() -> list[Component]:
    return [Component(plugin=name) for name in ("factorvae", "dci", "mig")]


class EvalSection(Section):
    """Evaluation settings (``disdiff eval``; ``train.eval_every`` runs them periodically with
    fast settings during training)."""

    metrics: list[Component] = Field(default_factory=_default_metrics)
    reduce: Literal["pca1", "none"] = Field(
        "pca1", description="reduction of each D-dim factor code to metric codes"
    )
    seeds: int = Field(3, ge=1, description="metric seeds; results are mean ± std over them")


class Recipe(Section):
    """A whole recipe: one training stage and everything it needs."""

    name: str | None = Field(None, description="run name (default: the recipe file's stem)")
    description: str = ""
    stage: Stage
    data: DataSection
    first_stage: Component | None = Field(
        None, description="autoencoder between pixels and diffusion space (default: identity)"
    )
    backbone: Component | None = None
    encoder: Component | None = None
    field: Component | None = None
    losses: list[Component] = Field(default_factory=list)
    train: TrainConfig
    sample: SampleSection = Field(default_factory=SampleSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    provenance: dict[str, Any] | None = Field(
        None, description="written by the toolkit in a run's resolved recipe; ignored on input"
    )

    @model_validator(mode="after")
    def _stage_components(self) -> Recipe:
        spec = stage_spec(self.stage)
        missing = [key for key in spec.required if getattr(self, key) is None]
        if missing:
            raise ValueError(f"a {self.stage} recipe needs: {', '.join(missing)}")
        if spec.needs_losses and not self.losses:
            raise ValueError("a disdiff recipe needs `losses` (e.g. mean-shift and disentangle)")
        return self
