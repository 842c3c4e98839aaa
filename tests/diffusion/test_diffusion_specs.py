"""Backbone and sampler specs: torch-free, registered, validated."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from disdiff_core import registry
from disdiff_plugins.backbones.specs import UNetParams
from disdiff_plugins.samplers.specs import DDIMParams


def test_specs_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import disdiff_plugins.backbones.specs, disdiff_plugins.samplers.specs\n"
        "import disdiff_core.diffusion.config\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("kind", "name"),
    [("backbone", "unet"), ("backbone", "diffusers"), ("sampler", "ddpm"), ("sampler", "ddim")],
)
def test_plugins_are_registered(kind: str, name: str) -> None:
    spec = registry.get_plugin(kind, name)
    assert spec.name == name and spec.description
    spec.load_factory()


def test_unet_params_validation() -> None:
    params = UNetParams.model_validate({"schedule": {"kind": "cosine", "num_timesteps": 500}})
    assert params.attention_levels == [0, 1, 2]
    assert params.schedule.num_timesteps == 500
    for bad in (
        {"image_size": 12},  # not divisible by 8
        {"attention_resolutions": [32]},
        {"norm_groups": 48},
        {"num_heads": 3},
        {"num_head_channels": 48},
        {"unknown": 1},
    ):
        with pytest.raises(ValidationError):
            UNetParams.model_validate(bad)


def test_sampler_defaults_are_the_reference_visuals() -> None:
    params = DDIMParams()
    assert (params.steps, params.eta, params.spacing) == (200, 1.0, "uniform")
