"""DisDiffModel: the training step of docs/method.md, what trains and what stays frozen, sampling glue."""

from __future__ import annotations

import pytest
import torch
from disdiff_toys import IMAGE, D, N, images, tiny_backbone, tiny_encoder, tiny_field, tiny_model

from disdiff_core import registry
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.errors import DisdiffError
from disdiff_core.interfaces.loss import DisDiffStep
from disdiff_plugins.first_stages.identity import IdentityFirstStage
from disdiff_plugins.losses.disentangle import DisentangleLoss
from disdiff_plugins.losses.mean_shift import MeanShiftLoss
from disdiff_plugins.losses.specs import DisentangleParams, MeanShiftParams


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _draws(model: DisDiffModel, x0: torch.Tensor, seed: int = 0):
    """t, ε, c exactly as training_losses draws them from the same generator."""
    gen = _gen(seed)
    batch = x0.shape[0]
    y0 = model.first_stage.encode_scaled(x0)
    t = torch.randint(model.schedule.num_timesteps, (batch,), generator=gen)
    noise = torch.randn(y0.shape, generator=gen)
    factor = torch.randint(model.num_factors, (batch,), generator=gen)
    return y0, t, noise, factor


@pytest.mark.parametrize("latent", [False, True])
def test_at_step_zero_the_fields_vanish_and_eps_hat_is_eps_theta(latent: bool) -> None:
    model = tiny_model(latent=latent)
    x0 = images()
    out = model.training_losses(x0, generator=_gen())
    y0, t, noise, _ = _draws(model, x0)
    with torch.no_grad():
        eps_theta = model.backbone(model.schedule.q_sample(y0, t, noise), t)
    assert out["rec"].item() == pytest.approx((noise - eps_theta).abs().mean().item(), rel=1e-5)
    assert out["dis"].item() == 0 and out["w"].item() == 0
    z = model.encode(x0)
    y_t = torch.randn(4, *model.backbone.sample_shape)
    with torch.no_grad():
        torch.testing.assert_close(model.conditional_eps(z)(y_t, t), model.backbone(y_t, t))


def test_training_step_matches_a_hand_written_step() -> None:
    model = tiny_model(field_seed=5, losses=[MeanShiftLoss(MeanShiftParams())])
    x0 = images()
    out = model.training_losses(x0, generator=_gen(1))
    y0, t, noise, _ = _draws(model, x0, seed=1)
    y_t = model.schedule.q_sample(y0, t, noise)
    with torch.no_grad():
        eps_theta = model.backbone(y_t, t)
        fields = model.field(model.backbone.features(y_t, t), t, model.encoder(x0))
    eps_hat = eps_theta - model.schedule.a(t, y_t) * fields.sum(1)
    assert out["loss"].item() == pytest.approx((noise - eps_hat).abs().mean().item(), rel=1e-5)


def test_batched_and_loop_models_give_the_same_losses_and_gradients() -> None:
    batched = tiny_model(field_seed=5, losses=None)
    looped = tiny_model(field_seed=5, losses=None, per_factor_loop=True)
    x0 = images()
    a = batched.training_losses(x0, generator=_gen(2))
    b = looped.training_losses(x0, generator=_gen(2))
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].item() == pytest.approx(b[name].item(), rel=1e-5, abs=1e-7), name
    a["loss"].backward()
    b["loss"].backward()
    for (name, p), q in zip(batched.named_parameters(), looped.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_an_optimiser_step_changes_only_the_encoder_and_field() -> None:
    model = tiny_model(latent=True, field_seed=5)
    frozen_state = {
        "backbone": {k: v.clone() for k, v in model.backbone.state_dict().items()},
        "first_stage": {k: v.clone() for k, v in model.first_stage.state_dict().items()},
    }
    trained_before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(k.startswith(("encoder.", "field.")) for k in trained_before)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    out = model.training_losses(images(), generator=_gen(3), step=0)
    out["loss"].backward()
    optimizer.step()
    for part in ("backbone", "first_stage"):
        module = getattr(model, part)
        assert not module.training
        for key, value in module.state_dict().items():
            assert torch.equal(value, frozen_state[part][key]), (part, key)
        assert all(p.grad is None for p in module.parameters())
    copy = model._frozen.encoder_copy.module
    assert not copy.training
    assert all(p.grad is None and not p.requires_grad for p in copy.parameters())
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, trained_before[k])]
    assert any(k.startswith("encoder.") for k in changed)
    assert any(k.startswith("field.") for k in changed)


def test_the_disentangling_term_alone_trains_the_encoder() -> None:
    # The reference takes G_c from the one field pass on the LIVE z_c, so L_dis reaches E
    # through z_c even with no reconstruction term (the check that would have caught a detach).
    x0 = images()
    dis_only = tiny_model(field_seed=5, losses=[DisentangleLoss(DisentangleParams(weight=1.0))])
    out = dis_only.training_losses(x0, generator=_gen(4))
    assert out["loss"].item() > 0
    out["loss"].backward()
    assert sum(p.grad.abs().sum() for p in dis_only.encoder.parameters()
               if p.grad is not None) > 0
    assert sum(p.grad.abs().sum() for p in dis_only.field.parameters() if p.grad is not None) > 0


def test_detached_code_ablation_keeps_the_disentangling_term_out_of_the_encoder() -> None:
    x0 = images()
    params = DisentangleParams(weight=1.0, code_gradient="detached")
    ablation = tiny_model(field_seed=5, losses=[DisentangleLoss(params)])
    live = tiny_model(field_seed=5, losses=[DisentangleLoss(DisentangleParams(weight=1.0))])
    out = ablation.training_losses(x0, generator=_gen(4))
    # same draws, same G_c values: only the gradient path differs
    assert out["loss"].item() == pytest.approx(
        live.training_losses(x0, generator=_gen(4))["loss"].item(), rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in ablation.encoder.parameters())
    assert sum(p.grad.abs().sum() for p in ablation.field.parameters()
               if p.grad is not None) > 0


def _band_model(detached: bool = False, band: tuple[int, int] = (30, 60)) -> DisDiffModel:
    params = DisentangleParams(weight=1.0, weight_mode="uniform", t_range=band,
                               code_gradient="detached" if detached else "live")
    return tiny_model(field_seed=5, losses=[MeanShiftLoss(MeanShiftParams()),
                                            DisentangleLoss(params)])


@pytest.mark.parametrize("detached", [False, True])
def test_a_term_with_a_timestep_band_gets_its_own_draws_in_the_band(detached: bool) -> None:
    # After the step's shared draws, the generator gives the term t in [30, 60) and a new ε; the
    # term then sees exactly the step a hand-made DisDiffStep with those draws gives it.
    model, x0 = _band_model(detached), images()
    before = {name: value.clone() for name, value in model.encoder.named_buffers()}
    out = model.training_losses(x0, generator=_gen(6))
    out["loss"].backward()  # the band's field pass trains the field (and, live, the encoder)
    assert sum(p.grad.abs().sum() for p in model.field.parameters() if p.grad is not None) > 0
    with torch.no_grad():  # BatchNorm statistics as the step found them
        for name, value in model.encoder.named_buffers():
            value.copy_(before[name])
    y0, _, _, factor = _draws(model, x0, seed=6)
    gen = _gen(6)
    _draws_from(gen, model, x0)
    t = 30 + torch.randint(30, (x0.shape[0],), generator=gen)
    noise = torch.randn(y0.shape, generator=gen)
    y_t = model.schedule.q_sample(y0, t, noise)
    with torch.no_grad():
        eps_theta = model.backbone(y_t, t)
        z = model.encoder(x0)
        fields = model.field(model.backbone.features(y_t, t), t, z)
    model.sync_frozen_encoder()
    by_hand = DisDiffStep(
        schedule=model.schedule, x0=x0, y0=y0, y_t=y_t, t=t, noise=noise, eps_theta=eps_theta,
        z=z, fields=fields, factor=factor, field_c=fields[torch.arange(len(t)), factor],
        first_stage=model.first_stage, frozen_encoder=model.frozen_encoder)
    expected = model.losses[1](by_hand)
    for name in ("dis", "ce_variant", "ce_invariant", "acc_invariant"):
        assert out[name].item() == pytest.approx(expected[name].item(), rel=1e-4), name


def _draws_from(gen: torch.Generator, model: DisDiffModel, x0: torch.Tensor) -> None:
    """Advance ``gen`` past the step's shared draws (t, ε, c)."""
    batch = x0.shape[0]
    torch.randint(model.schedule.num_timesteps, (batch,), generator=gen)
    torch.randn((batch, *model.backbone.sample_shape), generator=gen)
    torch.randint(model.num_factors, (batch,), generator=gen)


def test_a_given_t_is_not_redrawn_for_a_band_and_outside_it_weighs_zero() -> None:
    model, x0 = _band_model(), images()
    outside = torch.tensor([0, 10, 70, 99])
    out = model.training_losses(x0, t=outside, generator=_gen(7))
    assert out["dis"].item() == 0 and out["rec"].item() > 0
    inside = model.training_losses(x0, t=torch.tensor([30, 40, 50, 59]), generator=_gen(7))
    assert inside["dis"].item() > 0


def test_a_timestep_band_past_the_schedule_is_refused() -> None:
    with pytest.raises(DisdiffError, match="past the backbone's T = 100"):
        _band_model(band=(50, 101))


def test_latent_space_disentangling_gradient_flows_through_the_decoder() -> None:
    model = tiny_model(latent=True, field_seed=5,
                       losses=[DisentangleLoss(DisentangleParams(weight=1.0))])
    out = model.training_losses(images(), generator=_gen(5))
    out["loss"].backward()
    assert model.field.decoder.out[-1].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.first_stage.parameters())


def test_frozen_encoder_copy_follows_the_live_encoder() -> None:
    model = tiny_model()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.5)
    model.encoder.train()
    model.encoder(images())  # moves the BatchNorm running statistics
    model.sync_frozen_encoder()
    x = images(seed=9)
    torch.testing.assert_close(model.frozen_encoder(x), model.encode(x))
    assert model.encoder.training  # encode() restored the mode


def test_frozen_parts_follow_dtype_and_device_moves() -> None:
    model = tiny_model().double()
    assert next(model.backbone.parameters()).dtype == torch.float64
    assert next(model.first_stage.buffers()).dtype == torch.float64
    assert next(model._frozen.encoder_copy.module.parameters()).dtype == torch.float64
    assert model.training_losses(images().double(), generator=_gen())["loss"].dtype == torch.float64


def test_partial_conditional_eps_and_ddim_sampling() -> None:
    model = tiny_model(field_seed=5).eval()
    x0 = images(batch=2)
    z = model.encode(x0)
    y_t, t = torch.randn(2, 3, IMAGE, IMAGE), torch.tensor([10, 90])
    with torch.no_grad():
        eps_theta, features = model.backbone.forward_with_features(y_t, t)
        fields = model.field(features, t, z)
        b = model.schedule.b(t, y_t)
        torch.testing.assert_close(model.conditional_eps(z)(y_t, t),
                                   eps_theta - b * fields.sum(1))
        torch.testing.assert_close(model.conditional_eps(z, [1])(y_t, t),
                                   eps_theta - b * fields[:, 1], rtol=1e-5, atol=1e-5)
    sampler = registry.build("sampler", "ddim", {"steps": 3})
    sample = sampler.sample(model.conditional_eps(z, [0, 2]), model.schedule,
                            torch.randn(2, 3, IMAGE, IMAGE, generator=_gen()), generator=_gen())
    assert sample.shape == (2, 3, IMAGE, IMAGE) and torch.isfinite(sample).all()


def test_factor_x0_columns() -> None:
    fresh = tiny_model().eval()
    grid = fresh.factor_x0(images(batch=2), [10, 99], generator=_gen())
    assert grid.shape == (2, 2, N + 2, 3, IMAGE, IMAGE)
    # fields are zero at initialisation: every column is the backbone's prediction
    torch.testing.assert_close(grid, grid[:, :, :1].expand_as(grid))
    trained = tiny_model(field_seed=5).eval()
    grid = trained.factor_x0(images(batch=2), [50], factors=[2], generator=_gen())
    assert grid.shape == (2, 1, 3, 3, IMAGE, IMAGE)
    # one requested factor: "all requested" and "factor 2 alone" coincide
    torch.testing.assert_close(grid[:, :, 1], grid[:, :, 2])
    assert not torch.allclose(grid[:, :, 0], grid[:, :, 2])


def test_model_user_errors() -> None:
    backbone = tiny_backbone()
    encoder = tiny_encoder()
    field = tiny_field(backbone)
    with pytest.raises(DisdiffError, match="at least one loss"):
        DisDiffModel(backbone, IdentityFirstStage(), encoder, field, [])
    wider = tiny_field(backbone)
    wider.factor_dim = D + 1
    with pytest.raises(DisdiffError, match="codes"):
        DisDiffModel(backbone, IdentityFirstStage(), encoder, wider,
                     [MeanShiftLoss(MeanShiftParams())])
    mismatched = tiny_model(latent=True)
    mismatched._frozen.backbone = tiny_backbone()  # a 16 px backbone behind a 2× first stage
    with pytest.raises(DisdiffError, match="backbone works on"):
        mismatched.training_losses(images())
    twice = tiny_model(losses=[MeanShiftLoss(MeanShiftParams()), MeanShiftLoss(MeanShiftParams())])
    with pytest.raises(DisdiffError, match="'rec'"):
        twice.training_losses(images())
