"""UNet building blocks: FiLM conditioning, attention, resampling, the two UNet halves."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from disdiff_core.interfaces.backbone import BackboneFeatures, FeatureLayout
from disdiff_plugins.nn import (
    AttentionBlock,
    BlockOptions,
    ResBlock,
    UNetDecoder,
    UNetEncoder,
    timestep_embedding,
    zero_module,
)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter (zero-initialised ones included) random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return module


def test_timestep_embedding_is_the_adm_layout() -> None:
    t = torch.tensor([0, 3, 999])
    emb = timestep_embedding(t, 8)
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    expected = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
    torch.testing.assert_close(emb, expected)
    assert timestep_embedding(t, 7).shape == (3, 7)


def test_resblock_applies_time_film_then_extra_films() -> None:
    block = randomize(ResBlock(8, 6, 16, norm_groups=4, cond_channels=(5, 3))).eval()
    x, emb = torch.randn(2, 8, 4, 4), torch.randn(2, 6)
    conds = [torch.randn(2, 5), torch.randn(2, 3)]
    h = block.out_layers[0](block.in_layers(x))
    for layer, c in zip([block.emb_layers, *block.cond_layers], [emb, *conds], strict=True):
        scale, shift = layer(c)[..., None, None].chunk(2, dim=1)
        h = h * (1 + scale) + shift
    expected = block.skip_connection(x) + block.out_layers[1:](h)
    torch.testing.assert_close(block(x, emb, conds), expected)
    with pytest.raises(ValueError, match="extra conditionings"):
        block(x, emb, conds[:1])


def test_resblock_starts_as_its_skip_path_and_resamples() -> None:
    x, emb = torch.randn(2, 8, 8, 8), torch.randn(2, 6)
    block = ResBlock(8, 6, norm_groups=4)
    torch.testing.assert_close(block(x, emb), x)  # zero-initialised last conv
    assert ResBlock(8, 6, norm_groups=4, down=True)(x, emb).shape == (2, 8, 4, 4)
    assert ResBlock(8, 6, norm_groups=4, up=True)(x, emb).shape == (2, 8, 16, 16)
    additive = randomize(ResBlock(8, 6, 4, norm_groups=4, scale_shift=False, cond_channels=(2,)))
    assert additive(x, emb, [torch.randn(2, 2)]).shape == (2, 4, 8, 8)


def test_attention_matches_a_naive_implementation() -> None:
    block = randomize(AttentionBlock(8, num_heads=2, norm_groups=4))
    x = torch.randn(2, 8, 3, 3)
    flat = x.reshape(2, 8, 9)
    q, k, v = block.qkv(block.norm(flat)).reshape(2, 3, 2, 4, 9).unbind(1)  # (B, heads, d, L)
    weights = torch.softmax(torch.einsum("bhdl,bhdm->bhlm", q, k) / 2.0, dim=-1)
    h = torch.einsum("bhlm,bhdm->bhdl", weights, v).reshape(2, 8, 9)
    torch.testing.assert_close(block(x), (flat + block.proj_out(h)).reshape(2, 8, 3, 3))
    torch.testing.assert_close(AttentionBlock(8, 2, 4)(x), x)  # zero-initialised projection


def test_zero_module() -> None:
    conv = zero_module(nn.Conv2d(2, 2, 3))
    assert all((p == 0).all() for p in conv.parameters())


def tiny_encoder(**kw: object) -> UNetEncoder:
    options = BlockOptions(num_heads=2, norm_groups=4, **kw)  # type: ignore[arg-type]
    return UNetEncoder(
        in_channels=3,
        base_channels=8,
        channel_mult=[1, 2, 2],
        num_res_blocks=2,
        image_size=(8, 12),
        attention_levels=[1],
        options=options,
    )


@pytest.mark.parametrize("resblock_updown", [True, False])
def test_encoder_features_follow_the_layout(resblock_updown: bool) -> None:
    encoder = tiny_encoder(resblock_updown=resblock_updown)
    layout = encoder.layout
    assert layout.skip_channels == (8, 8, 8, 8, 16, 16, 16, 16, 16)
    assert layout.skip_levels == (0, 0, 0, 1, 1, 1, 2, 2, 2)
    assert layout.time_embed_dim == 32 and layout.bottleneck_channels == 16
    features = encoder(torch.randn(2, 3, 8, 12), torch.tensor([3, 900]))
    layout.check(features)
    assert features.bottleneck is features.skips[-1]
    assert features.skips[-1].shape == (2, 16, 2, 3)


def test_decoder_mirrors_a_layout_with_extra_conditionings() -> None:
    encoder = tiny_encoder()
    features = encoder(torch.randn(3, 3, 8, 12), torch.tensor([0, 10, 999]))
    options = BlockOptions(num_heads=2, norm_groups=4)
    decoder = UNetDecoder(encoder.layout, options=options, cond_channels=(32,))
    z = torch.randn(3, 32)
    out = decoder(features.skips, features.emb, [z])
    assert out.shape == (3, 3, 8, 12)
    assert (out == 0).all()  # a fresh decoder (a fresh field) outputs 0
    randomize(decoder)
    out = decoder(features.skips, features.emb, [z])
    assert out.abs().mean() > 0
    assert not torch.allclose(out, decoder(features.skips, features.emb, [torch.randn(3, 32)]))
    with pytest.raises(ValueError, match="skips"):
        decoder(features.skips[1:], features.emb, [z])


def test_features_fold_a_factor_axis() -> None:
    skips = [torch.arange(2.0).view(2, 1, 1, 1)]
    folded = BackboneFeatures(skips=skips, emb=torch.arange(2.0).view(2, 1)).repeat_interleave(3)
    assert folded.skips[0].flatten().tolist() == [0, 0, 0, 1, 1, 1]
    assert folded.emb.shape == (6, 1)


def test_layout_check_reports_mismatches() -> None:
    layout = FeatureLayout(3, (4, 4), 4, (4, 8), 1, 16)
    good = BackboneFeatures(
        [
            torch.zeros(1, 4, 4, 4),
            torch.zeros(1, 4, 4, 4),
            torch.zeros(1, 4, 2, 2),
            torch.zeros(1, 8, 2, 2),
        ],
        torch.zeros(1, 16),
    )
    layout.check(good)
    good.skips[2] = torch.zeros(1, 4, 4, 4)
    with pytest.raises(ValueError, match="skip 2"):
        layout.check(good)
