"""Representation encoders: conv4 (the reference Encoder4) and timm trunks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from disdiff_core import registry
from disdiff_core.errors import PluginError
from disdiff_plugins.encoders.conv4 import Conv4Encoder
from disdiff_plugins.encoders.specs import Conv4Params, TimmParams
from disdiff_plugins.encoders.timm_encoder import TimmEncoder


@pytest.mark.parametrize("size", [32, 64])
def test_conv4_works_at_32_and_64_px(size: int) -> None:
    encoder = registry.build("encoder", "conv4", {"image_size": size})
    z = encoder(torch.randn(2, 3, size, size))
    assert z.shape == (2, 6, 32)
    side = size // 16
    assert encoder.head.in_features == 128 * side * side


def test_conv4_is_the_reference_layout_with_the_missing_relu_restored() -> None:
    encoder = Conv4Encoder(Conv4Params())
    layers = list(encoder.features)
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == [((4, 4), (2, 2), 128)] * 4
    # conv → BN → ReLU four times (the reference leaves out the third ReLU), then
    # res, BN, ReLU, res.
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU"] * 4 + [
        "ResidualBlock", "BatchNorm2d", "ReLU", "ResidualBlock"]
    assert encoder.head.out_features == 6 * 32


def test_conv4_is_deterministic_and_rejects_other_sizes() -> None:
    encoder = Conv4Encoder(Conv4Params(image_size=32)).eval()
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(encoder(x), encoder(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="32×32"):
        encoder(torch.randn(1, 3, 64, 64))


def test_conv4_image_size_must_allow_four_halvings() -> None:
    with pytest.raises(ValueError, match="divisible by 16"):
        Conv4Params(image_size=40)


def test_conv4_codes_split_the_linear_output_in_order() -> None:
    encoder = Conv4Encoder(Conv4Params(image_size=32, num_factors=3, factor_dim=5)).eval()
    x = torch.randn(2, 3, 32, 32)
    flat = encoder.head(encoder.features(x).flatten(1))
    torch.testing.assert_close(encoder(x)[:, 1], flat[:, 5:10])


@pytest.mark.parametrize("name", ["test_resnet", "test_vit"])
def test_timm_trunk_gives_n_codes(name: str) -> None:
    encoder = registry.build("encoder", "timm", {"model_name": name, "image_size": 32,
                                                 "num_factors": 4, "factor_dim": 8})
    assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, 4, 8)


def test_timm_resnet18_gives_b_n_d() -> None:
    encoder = TimmEncoder(TimmParams(model_name="resnet18", image_size=64))
    assert encoder(torch.randn(2, 3, 64, 64)).shape == (2, 6, 32)


def test_timm_loads_local_weights_without_the_classifier(tmp_path: Path) -> None:
    import timm

    source = timm.create_model("test_resnet", pretrained=False)  # with its classifier
    path = tmp_path / "trunk.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    encoder = TimmEncoder(TimmParams(model_name="test_resnet", weights=str(path), image_size=32))
    for key, value in encoder.trunk.state_dict().items():
        torch.testing.assert_close(value, source.state_dict()[key])

    torch.save(source.state_dict(), tmp_path / "trunk.pt")
    gray = TimmEncoder(TimmParams(model_name="test_resnet", weights=str(tmp_path / "trunk.pt"),
                                  in_channels=1, image_size=32))
    assert gray(torch.randn(2, 1, 32, 32)).shape == (2, 6, 32)


def test_timm_user_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="Unknown model"):
        TimmEncoder(TimmParams(model_name="no_such_model"))
    with pytest.raises(PluginError, match="do not exist"):
        TimmEncoder(TimmParams(model_name="test_resnet", weights=str(tmp_path / "x.pt")))
    bad = tmp_path / "bad.safetensors"
    save_file({"stem.weight": torch.zeros(1)}, str(bad))
    with pytest.raises(PluginError, match="do not fit"):
        TimmEncoder(TimmParams(model_name="test_resnet", weights=str(bad)))


def test_timm_imagenet_normalisation_maps_minus_one_to_one() -> None:
    encoder = TimmEncoder(TimmParams(model_name="test_resnet", imagenet_normalize=True)).eval()
    x = torch.zeros(1, 3, 32, 32)  # grey: 0.5 in [0, 1]
    expected = (0.5 - encoder.mean) / encoder.std
    seen = {}
    encoder.trunk.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0]))
    encoder(x)
    torch.testing.assert_close(seen["x"], expected.expand(1, 3, 32, 32))
