"""The ``timm`` encoder: any timm image model as trunk, a linear head to N·D.

The trunk is ``timm.create_model(name, pretrained=False, num_classes=0, in_chans=...)`` (pooled
features, no classifier, nothing downloaded). Trained weights come from a LOCAL file only:
safetensors, or a torch state dict read with ``weights_only=True`` (no pickled code). The
classifier's keys in such a file are ignored; a first convolution trained for 3 channels is
adapted to ``in_channels`` the way timm does it. Models whose constructor takes ``img_size``
(ViT-like) are built for ``image_size``; convolutional trunks accept any size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from disdiff_core.errors import PluginError
from disdiff_core.interfaces.encoder import RepresentationEncoder
from disdiff_plugins.encoders.specs import TimmParams


def _create_trunk(params: TimmParams) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = {
        "pretrained": False,
        "num_classes": 0,
        "in_chans": params.in_channels,
        **params.model_kwargs,
    }
    try:
        return timm.create_model(params.model_name, img_size=params.image_size, **kwargs)
    except TypeError as exc:
        if "img_size" not in str(exc):
            raise PluginError(f"timm encoder {params.model_name!r}: {exc}") from None
    except RuntimeError as exc:  # timm: unknown model name
        raise PluginError(f"timm encoder: {exc}") from None
    try:
        return timm.create_model(params.model_name, **kwargs)
    except TypeError as exc:
        raise PluginError(f"timm encoder {params.model_name!r}: {exc}") from None


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise PluginError(f"timm encoder weights {path} do not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise PluginError(f"cannot read timm encoder weights {path}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PluginError(f"{path} does not hold a state dict")
    return state


def load_trunk_weights(trunk: nn.Module, path: Path, in_channels: int) -> None:
    """Load a local state dict into a classifier-free timm trunk (see the module docstring)."""
    from timm.models import adapt_input_conv

    state = _read_state_dict(path)
    config = getattr(trunk, "pretrained_cfg", {}) or {}
    classifiers = config.get("classifier") or ()
    classifiers = (classifiers,) if isinstance(classifiers, str) else tuple(classifiers)
    state = {
        key: value
        for key, value in state.items()
        if not any(key.startswith(f"{name}.") for name in classifiers)
    }
    first_conv = config.get("first_conv")
    if isinstance(first_conv, str) and f"{first_conv}.weight" in state:
        key = f"{first_conv}.weight"
        if state[key].shape[1] != in_channels:
            state[key] = adapt_input_conv(in_channels, state[key])
    try:
        trunk.load_state_dict(state)
    except RuntimeError as exc:
        raise PluginError(f"timm encoder weights {path} do not fit the model: {exc}") from None


class TimmEncoder(RepresentationEncoder):
    """image (B, in_channels, H, W) in [-1, 1] → trunk features → Linear → z (B, N, D)."""

    def __init__(self, params: TimmParams) -> None:
        super().__init__(params.num_factors, params.factor_dim)
        self.trunk = _create_trunk(params)
        if params.weights is not None:
            load_trunk_weights(self.trunk, Path(params.weights), params.in_channels)
        self.head = nn.Linear(self.trunk.num_features, params.num_factors * params.factor_dim)
        self.imagenet_normalize = params.imagenet_normalize
        if params.imagenet_normalize:
            config = getattr(self.trunk, "pretrained_cfg", {}) or {}
            mean, std = _channel_stats(config, params.in_channels)
            self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.imagenet_normalize:
            x = ((x + 1) / 2 - self.mean) / self.std
        return self.split(self.head(self.trunk(x)))


def _channel_stats(config: dict[str, Any], channels: int) -> tuple[Tensor, Tensor]:
    """The trunk's pretrained per-channel mean/std, repeated (mean of them) for other channel
    counts; ImageNet's when the model names none."""
    mean = torch.tensor(config.get("mean", (0.485, 0.456, 0.406)), dtype=torch.float32)
    std = torch.tensor(config.get("std", (0.229, 0.224, 0.225)), dtype=torch.float32)
    if mean.numel() != channels:
        mean, std = mean.mean().repeat(channels), std.mean().repeat(channels)
    return mean, std
