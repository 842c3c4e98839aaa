"""Representation-encoder plugins (torch-free specs). Both are built as ``factory(params)``.

Defaults are the DisDiff reference: N = 6 factor codes of D = 32 dims from a 64×64 RGB image.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from disdiff_core.plugin import Params, PluginSpec


class EncoderParams(Params):
    """Shape of the representation every encoder produces: N codes of D dims."""

    num_factors: int = Field(6, ge=1, description="number of factor codes N (reference: 6)")
    factor_dim: int = Field(32, ge=1, description="dimensions D of each code (reference: 32)")
    image_size: int = Field(64, ge=1, description="height = width of the input images (px)")
    in_channels: int = Field(3, ge=1, description="channels of the input images")


class Conv4Params(EncoderParams):
    """The reference "Encoder4": four 4×4 stride-2 convolutions with BatchNorm and ReLU, two
    residual blocks, a linear layer to N·D."""

    channels: int = Field(128, ge=1, description="width of every convolution (reference: 128)")
    third_relu: bool = Field(
        True,
        description="ReLU after the third convolution's BatchNorm; False builds the reference "
        "code's layer list, which leaves it out (needed to load its checkpoints)",
    )

    @model_validator(mode="after")
    def _check_size(self) -> Conv4Params:
        if self.image_size % 16:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 16 (four stride-2 convolutions)"
            )
        return self


class TimmParams(EncoderParams):
    """Any timm model as trunk (built without downloading, ``pretrained=False``), its pooled
    features through a linear head to N·D."""

    model_name: str = Field("resnet18", description="timm model name (see timm.list_models())")
    weights: str | None = Field(
        None,
        description="local trunk weights (.safetensors, or a torch state dict .pt/.pth loaded "
        "with weights_only=True); the classifier's keys are ignored; None: random init",
    )
    imagenet_normalize: bool = Field(
        False,
        description="map [-1, 1] images to the trunk's pretrained mean/std (useful with "
        "ImageNet weights)",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="extra keyword arguments of timm.create_model"
    )


CONV4 = PluginSpec(
    kind="encoder",
    name="conv4",
    description="The reference Encoder4 CNN (4 strided convs + 2 residual blocks + linear).",
    params=Conv4Params,
    factory="disdiff_plugins.encoders.conv4:Conv4Encoder",
)

TIMM = PluginSpec(
    kind="encoder",
    name="timm",
    description="Any timm image model (local weights optional) with a linear head to N·D.",
    params=TimmParams,
    factory="disdiff_plugins.encoders.timm_encoder:TimmEncoder",
)
