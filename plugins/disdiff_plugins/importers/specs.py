"""Importer plugins (torch-free specs): other codebases' checkpoints as disdiff runs."""

from __future__ import annotations

from pydantic import Field

from disdiff_core.plugin import Params, PluginSpec


class ReferenceImportParams(Params):
    """Options of the reference-code importer."""

    use_ema: bool = Field(
        True,
        description="take the checkpoint's EMA weights (model_ema.*) where it has them; the "
        "reference samples with them",
    )


REFERENCE = PluginSpec(
    kind="importer",
    name="reference",
    description="Checkpoints of the DisDiff reference code (and its latent-diffusion base): "
    "autoencoder, backbone or whole DisDiff model, with their config.",
    params=ReferenceImportParams,
    factory="disdiff_plugins.importers.reference:build_reference_importer",
)
