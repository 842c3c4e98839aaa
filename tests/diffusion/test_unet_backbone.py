"""The ``unet`` backbone plugin: features, freezing, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from disdiff_core import registry
from disdiff_core.errors import DisdiffError
from disdiff_plugins.backbones.checkpoint import save_backbone_weights
from disdiff_plugins.backbones.specs import UNetParams
from disdiff_plugins.backbones.unet import UNetBackbone, build_unet

TINY = {
    "image_size": 8,
    "base_channels": 16,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attention_resolutions": [4],
    "num_heads": 2,
    "norm_groups": 4,
    "schedule": {"num_timesteps": 100},
}


def tiny_unet(seed: int = 0, **overrides: object) -> UNetBackbone:
    """A tiny UNet with every weight random (zero-initialised layers would hide bugs)."""
    backbone = build_unet(UNetParams.model_validate({**TINY, **overrides}))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in backbone.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    return backbone


def test_reference_configuration() -> None:
    backbone = registry.build("backbone", "unet")
    assert backbone.sample_shape == (3, 16, 16)
    layout = backbone.feature_layout
    assert layout.level_channels == (64, 128, 256, 256)
    assert layout.time_embed_dim == 256
    assert layout.attention_levels == (0, 1, 2)  # 16, 8 and 4 px
    assert backbone.schedule.to_dict()["kind"] == "linear_sqrt"
    eps = backbone(torch.randn(2, 3, 16, 16), torch.tensor([0, 999]))
    assert eps.shape == (2, 3, 16, 16)


def test_features_equal_a_separate_encoder_pass() -> None:
    backbone = tiny_unet().eval()
    y_t, t = torch.randn(3, 3, 8, 8), torch.tensor([0, 42, 99])
    eps, features = backbone.forward_with_features(y_t, t)
    backbone.feature_layout.check(features)
    torch.testing.assert_close(eps, backbone(y_t, t))
    again = backbone.features(y_t, t)
    assert len(again.skips) == len(features.skips)
    for got, expected in zip(features.skips, again.skips, strict=True):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(features.emb, again.emb)
    assert not again.emb.requires_grad  # features() runs without gradient
    assert eps.abs().mean() > 0
    # A scalar t is broadcast over the batch.
    torch.testing.assert_close(backbone(y_t, 7), backbone(y_t, torch.full((3,), 7)))


def test_loading_a_checkpoint_freezes(tmp_path: Path) -> None:
    trained = tiny_unet(seed=1)
    path = tmp_path / "backbone.safetensors"
    save_backbone_weights(trained, path)
    backbone = registry.build("backbone", "unet", {**TINY, "dropout": 0.5}, checkpoint=path)
    assert backbone.frozen and not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[name], value)

    # A downstream module trained on the backbone's output and features.
    head = nn.Conv2d(3, 3, 1)
    wrapper = nn.ModuleDict({"backbone": backbone, "head": head})
    wrapper.train()  # must not wake the frozen backbone (dropout would change ε)
    assert not backbone.training
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    head_before = head.weight.detach().clone()
    optimiser = torch.optim.AdamW(wrapper.parameters(), lr=0.1)
    y_t, t = torch.randn(2, 3, 8, 8), torch.tensor([5, 50])
    eps, features = backbone.forward_with_features(y_t, t)
    loss = head(eps).square().mean() + features.bottleneck.mean()
    loss.backward()
    optimiser.step()
    assert all(p.grad is None for p in backbone.parameters())
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not torch.equal(head.weight, head_before)
    torch.testing.assert_close(backbone(y_t, t), eps.detach())  # still deterministic (eval)


def test_checkpoint_errors(tmp_path: Path) -> None:
    path = tmp_path / "backbone.safetensors"
    save_backbone_weights(tiny_unet(), path)
    with pytest.raises(DisdiffError, match="does not exist"):
        build_unet(UNetParams.model_validate(TINY), checkpoint=tmp_path / "missing.safetensors")
    with pytest.raises(DisdiffError, match="schedule"):
        build_unet(
            UNetParams.model_validate(
                {**TINY, "schedule": {"kind": "linear", "num_timesteps": 100}}
            ),
            checkpoint=path,
        )
    with pytest.raises(DisdiffError, match="architecture"):
        build_unet(UNetParams.model_validate({**TINY, "base_channels": 8}), checkpoint=path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DisdiffError, match="cannot read"):
        build_unet(UNetParams.model_validate(TINY), checkpoint=tmp_path / "junk.safetensors")


def test_head_channels_and_plain_resampling() -> None:
    backbone = tiny_unet(num_head_channels=8, resblock_updown=False, use_scale_shift_norm=False)
    assert backbone(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])).shape == (2, 3, 8, 8)


def test_backbone_follows_its_module_to_another_dtype() -> None:
    backbone = tiny_unet().to(torch.float64)
    assert backbone.schedule.alphas_cumprod.dtype == torch.float32
    assert backbone(torch.randn(1, 3, 8, 8, dtype=torch.float64), 3).dtype == torch.float64
