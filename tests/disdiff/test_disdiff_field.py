"""The shift-unet gradient field: zero start, batched = per-factor loop, factor embeddings."""

from __future__ import annotations

import pytest
import torch
from disdiff_toys import IMAGE, D, N, randomise, tiny_backbone, tiny_field

from disdiff_core import registry
from disdiff_core.errors import PluginError
from disdiff_plugins.fields.factor_embeddings import OrthogonalFactorEmbedding
from disdiff_plugins.nn.blocks import ResBlock
from disdiff_plugins.nn.shared_skip import SharedSkipConcat


@pytest.fixture(scope="module")
def backbone():
    return tiny_backbone()


def _inputs(batch: int = 3, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    y_t = torch.randn(batch, 3, IMAGE, IMAGE, generator=gen)
    t = torch.randint(0, 100, (batch,), generator=gen)
    z = torch.randn(batch, N, D, generator=gen)
    return y_t, t, z


def test_fresh_field_is_zero_and_mirrors_the_backbone(backbone) -> None:
    field = registry.build("field", "shift-unet", {}, backbone=backbone, num_factors=N,
                           factor_dim=D)
    assert field.decoder.layout == backbone.feature_layout
    y_t, t, z = _inputs()
    out = field(backbone.features(y_t, t), t, z)
    assert out.shape == (3, N, 3, IMAGE, IMAGE)
    assert torch.count_nonzero(out) == 0
    # the z projection defaults to the time-embedding width; the orthogonal factor table to half
    assert field.code_proj.out_features == backbone.feature_layout.time_embed_dim
    assert field.factor_embedding.weight.shape == (32, 32)


def test_batched_and_loop_modes_give_the_same_fields_and_gradients(backbone) -> None:
    batched = tiny_field(backbone, seed=7)
    looped = tiny_field(backbone, seed=7, per_factor_loop=True)
    y_t, t, z = _inputs()
    features = backbone.features(y_t, t)
    for ids in (None, [2, 0], torch.tensor([[1, 1], [0, 2], [2, 0]])):
        a, b = batched(features, t, z, ids), looped(features, t, z, ids)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    batched(features, t, z).square().sum().backward()
    looped(features, t, z).square().sum().backward()
    for (name, p), q in zip(batched.named_parameters(), looped.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_each_field_depends_on_its_own_code_and_factor(backbone) -> None:
    field = tiny_field(backbone, seed=7)
    y_t, t, z = _inputs()
    features = backbone.features(y_t, t)
    all_fields = field(features, t, z)
    torch.testing.assert_close(field(features, t, z, [1])[:, 0], all_fields[:, 1])
    changed = z.clone()
    changed[:, 0] += 1.0
    moved = field(features, t, changed)
    assert not torch.allclose(moved[:, 0], all_fields[:, 0])
    torch.testing.assert_close(moved[:, 1:], all_fields[:, 1:])
    # the same code as two different factors gives two different fields
    codes = z[:, :1].expand(-1, 2, -1)
    ids = torch.tensor([[0, 1]]).expand(3, 2)
    pair = field.forward_codes(features, t, codes, ids)
    assert not torch.allclose(pair[:, 0], pair[:, 1])


@pytest.mark.parametrize(("h_channels", "skip_channels"), [(8, 8), (12, 4), (4, 12), (6, 10), (10, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shared_skip_block_equals_the_plain_concatenation(h_channels: int, skip_channels: int,
                                                          dtype: torch.dtype) -> None:
    # Groups of 4 channels over 16: (8, 8), (12, 4) and (4, 12) split on a group boundary; in
    # (6, 10) and (10, 6) one group straddles activation and skip channels.
    block = randomise(ResBlock(h_channels + skip_channels, 6, 12, norm_groups=4,
                               cond_channels=(5,)), seed=2, scale=0.3)
    gen = torch.Generator().manual_seed(0)
    batch, repeats = 2, 3
    h = torch.randn(batch * repeats, h_channels, 5, 5, generator=gen, requires_grad=True)
    skip = torch.randn(batch, skip_channels, 5, 5, generator=gen)
    emb = torch.randn(batch * repeats, 6, generator=gen)
    cond = torch.randn(batch * repeats, 5, generator=gen)
    joined = SharedSkipConcat(h, skip, repeats)
    plain = joined.materialize()
    assert plain.shape == (6, h_channels + skip_channels, 5, 5)
    torch.testing.assert_close(plain[4, h_channels:], skip[1])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        expected = block(plain, emb, (cond,))
        shared = block(joined, emb, (cond,))
    tolerance = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 0.05,
                                                                          "rtol": 0.05}
    torch.testing.assert_close(shared.float(), expected.float(), **tolerance)
    grads = [torch.autograd.grad(out.float().square().sum(), [h, *block.parameters()])
             for out in (expected, shared)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, **{k: 20 * v for k, v in tolerance.items()})


def test_orthogonal_factor_embeddings_are_orthonormal() -> None:
    embedding = OrthogonalFactorEmbedding(6, 16)
    with torch.no_grad():
        embedding.weight.mul_(3.0)  # any W gives an orthogonal expm(W − Wᵀ)
    rows = embedding().double()
    assert rows.shape == (6, 16)
    torch.testing.assert_close(rows @ rows.T, torch.eye(6, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    with pytest.raises(ValueError, match="width"):
        OrthogonalFactorEmbedding(6, 4)


def test_free_factor_embeddings_and_overrides(backbone) -> None:
    field = tiny_field(backbone, orthogonal_factors=False, cond_dim=8, attention_levels=[])
    assert field.factor_embedding.weight.shape == (N, D)
    assert field.code_proj.out_features == 8
    assert not any(type(m).__name__ == "AttentionBlock" for m in field.decoder.output_blocks.modules())
    y_t, t, z = _inputs()
    assert field(backbone.features(y_t, t), t, z).shape == (3, N, 3, IMAGE, IMAGE)


def test_field_user_errors(backbone) -> None:
    with pytest.raises(PluginError, match="attention_levels"):
        tiny_field(backbone, attention_levels=[5])
    with pytest.raises(PluginError, match="width"):
        tiny_field(backbone, factor_embed_dim=2)
    with pytest.raises(PluginError, match="backbone"):
        registry.build("field", "shift-unet", {}, num_factors=N, factor_dim=D)
    field = tiny_field(backbone)
    y_t, t, z = _inputs()
    features = backbone.features(y_t, t)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        field(features, t, z, [3])
    with pytest.raises(ValueError, match="z of shape"):
        field(features, t, z[:, :2])


def test_field_gradient_reaches_codes_not_features(backbone) -> None:
    field = randomise(tiny_field(backbone), 3)
    y_t, t, z = _inputs()
    features = backbone.features(y_t, t)
    z = z.requires_grad_()
    field(features, t, z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(not s.requires_grad for s in features.skips)
