"""LPIPS-VGG16 perceptual distance (Zhang et al. 2018), loaded only from a local weights file.

Nothing is downloaded: the caller names a file holding the VGG16 convolutions and LPIPS's
five 1×1 "linear" layers. Two key layouts are understood, with any prefix before them:

* torchvision + lpips: ``features.<i>.weight|bias`` (``torchvision.models.vgg16().state_dict()``)
  and ``lin<k>.model.1.weight`` (the lpips package's ``weights/v0.1/vgg.pth``), e.g. both
  state dicts merged into one file;
* taming / LDM: ``net.slice<s>.<i>.weight|bias`` and ``lin<k>.model.1.weight`` (the
  ``loss.perceptual_loss.*`` entries of an LDM autoencoder checkpoint).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

from disdiff_core.errors import DisdiffError

#: VGG16 "D" configuration up to relu5_3 (torchvision's ``features`` indices 0..29).
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
#: ``features`` index after which each LPIPS tap is taken (relu1_2 … relu5_3), exclusive.
_TAP_ENDS = (4, 9, 16, 23, 30)
_TAP_CHANNELS = (64, 128, 256, 512, 512)
_KEY = re.compile(r"(?:^|\.)(?:features|net\.slice\d)\.(\d+)\.(weight|bias)$")
_LIN_KEY = re.compile(r"(?:^|\.)(lin\d\.model\.1\.weight)$")


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """d(x, x̂) per example, (B,), for images in [-1, 1] of shape (B, 3, H, W).

    VGG16 activations at five depths are unit-normalised over channels, their squared
    difference is weighted per channel by a non-negative 1×1 conv and averaged over space;
    the five values are summed. Always in eval mode, never trained.
    """

    def __init__(self) -> None:
        super().__init__()
        # LPIPS's ScalingLayer: ImageNet statistics expressed for inputs in [-1, 1].
        self.register_buffer(
            "shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False
        )
        self.features = _vgg16_features()
        for k, channels in enumerate(_TAP_CHANNELS):
            # Dropout mirrors LPIPS's layout (key `lin<k>.model.1`); it is off in eval mode.
            lin = nn.Module()
            lin.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))
            self.add_module(f"lin{k}", lin)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> LPIPS:
        return super().train(False)

    def _taps(self, x: Tensor) -> list[Tensor]:
        h, taps, start = (x - self.shift) / self.scale, [], 0
        for end in _TAP_ENDS:
            h = self.features[start:end](h)
            taps.append(h)
            start = end
        return taps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        total = x.new_zeros(x.shape[0])
        for k, (fx, fy) in enumerate(zip(self._taps(x), self._taps(y), strict=True)):
            fx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            fy = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{k}").model((fx - fy).pow(2)).mean(dim=(1, 2, 3))
        return total


def _read_state(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pt", ".pth", ".bin"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        return state.get("state_dict", state) if isinstance(state, dict) else {}
    raise DisdiffError(f"perceptual weights {path}: expected a .safetensors or .pt/.pth file")


def load_lpips(path: str | Path) -> LPIPS:
    """Build :class:`LPIPS` from a local weights file (layouts: see the module docstring).

    Raises DisdiffError when the file is missing, unreadable, or lacks a needed tensor."""
    path = Path(path)
    if not path.is_file():
        raise DisdiffError(
            f"perceptual weights file {path} does not exist (set `perceptual_weights` to a local "
            "LPIPS-VGG16 file, or to null to train without the perceptual term)"
        )
    try:
        raw = _read_state(path)
    except DisdiffError:
        raise
    except Exception as err:
        raise DisdiffError(f"cannot read perceptual weights {path}: {err}") from err
    state: dict[str, Tensor] = {}
    for key, tensor in raw.items():
        if match := _KEY.search(key):
            state[f"features.{match[1]}.{match[2]}"] = tensor
        elif match := _LIN_KEY.search(key):
            state[match[1]] = tensor
    model = LPIPS()
    missing = sorted(set(model.state_dict()) - set(state))
    if missing:
        raise DisdiffError(
            f"perceptual weights {path} lack {len(missing)} tensors, e.g. {missing[:3]}"
        )
    try:
        model.load_state_dict({k: state[k] for k in model.state_dict()})
    except RuntimeError as err:
        raise DisdiffError(f"perceptual weights {path} do not fit LPIPS-VGG16: {err}") from err
    return model
