"""The two loss terms against hand computations on tiny tensors."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from disdiff_core import registry
from disdiff_core.diffusion.schedule import NoiseSchedule
from disdiff_core.interfaces.first_stage import FirstStage
from disdiff_core.interfaces.loss import DisDiffStep
from disdiff_plugins.losses.disentangle import DisentangleLoss
from disdiff_plugins.losses.specs import DisentangleParams

T, B, N, D = 10, 2, 3, 2
SCALE = 0.5


class AffineFirstStage(FirstStage):
    """𝒟(y) = 2y + 1 on unscaled latents, s = 0.5: decode_scaled(y) = 4y + 1 (s applied once)."""

    def __init__(self) -> None:
        super().__init__(downsample=1, latent_channels=1)
        self.scale_factor.fill_(SCALE)
        self.quantize_flags: list[bool] = []

    def encode(self, x: Tensor) -> Tensor:
        return x

    def decode(self, y: Tensor, *, quantize: bool = True) -> Tensor:
        self.quantize_flags.append(quantize)
        return 2 * y + 1

    def training_losses(self, x: Tensor, *, step: int = 0) -> dict[str, Tensor]:
        raise NotImplementedError


def _alpha_bars() -> np.ndarray:
    betas = np.linspace(math.sqrt(0.0015), math.sqrt(0.0155), T) ** 2
    return np.cumprod(1 - betas)


def _step(seed: int = 0, **overrides) -> tuple[DisDiffStep, nn.Linear]:
    gen = torch.Generator().manual_seed(seed)
    encoder = nn.Linear(4, N * D).requires_grad_(False)
    values = {
        "schedule": NoiseSchedule({"num_timesteps": T}),
        "x0": torch.zeros(B, 1, 2, 2),
        "y0": torch.zeros(B, 1, 2, 2),
        "y_t": torch.randn(B, 1, 2, 2, generator=gen),
        "t": torch.tensor([0, 7]),
        "noise": torch.randn(B, 1, 2, 2, generator=gen),
        "eps_theta": torch.randn(B, 1, 2, 2, generator=gen),
        "z": torch.randn(B, N, D, generator=gen).requires_grad_(),
        "fields": torch.randn(B, N, 1, 2, 2, generator=gen).requires_grad_(),
        "factor": torch.tensor([2, 0]),
        "field_c": torch.randn(B, 1, 2, 2, generator=gen).requires_grad_(),
        "first_stage": AffineFirstStage(),
        "frozen_encoder": lambda x: encoder(x.flatten(1)).view(-1, N, D),
        "step": 0,
    }
    values.update(overrides)
    return DisDiffStep(**values), encoder


def _np(x: Tensor) -> np.ndarray:
    return x.detach().double().numpy()


@pytest.mark.parametrize(("loss_type", "snr"), [("l1", False), ("l2", False), ("l1", True)])
def test_mean_shift_matches_hand_computation(loss_type: str, snr: bool) -> None:
    step, _ = _step()
    loss = registry.build("loss", "mean-shift", {"loss_type": loss_type, "snr_weighting": snr})
    out = loss(step)
    abar = _alpha_bars()
    expected = []
    for b, t in enumerate(step.t.tolist()):
        alpha = abar[t] / (abar[t - 1] if t > 0 else 1.0)
        prev = abar[t - 1] if t > 0 else 1.0
        a_t = math.sqrt(alpha) * (1 - prev) / math.sqrt(1 - abar[t])
        eps_hat = _np(step.eps_theta[b]) - a_t * _np(step.fields[b]).sum(axis=0)
        err = _np(step.noise[b]) - eps_hat
        value = np.abs(err).mean() if loss_type == "l1" else (err**2).mean()
        if snr:
            ratio = abar[t] / (1 - abar[t])
            value *= ratio**0.1 / (1 + ratio)
        expected.append(value)
    assert out["loss"].item() == pytest.approx(np.mean(expected), rel=1e-5)
    assert out["rec"].item() == pytest.approx(out["loss"].item())
    # a_0 = 0: at t = 0 the fields have no effect
    step0, _ = _step(t=torch.tensor([0, 0]))
    plain = (step0.noise - step0.eps_theta).abs().mean()
    assert registry.build("loss", "mean-shift")(step0)["loss"].item() == pytest.approx(plain.item())


def _log_softmax_ce(logits: Iterable[float], target: int) -> float:
    logits = list(logits)
    top = max(logits)
    return top + math.log(sum(math.exp(v - top) for v in logits)) - logits[target]


def _hand_terms(step: DisDiffStep, encoder: nn.Linear, mode: str):
    """Per-example (CE_variant, CE_invariant, w), computed with numpy from docs/method.md."""
    abar = _alpha_bars()
    weight, bias = _np(encoder.weight), _np(encoder.bias)
    ce_var, ce_inv, ws = [], [], []
    for b, (t, c) in enumerate(zip(step.t.tolist(), step.factor.tolist(), strict=True)):
        gb, sa = math.sqrt(1 - abar[t]), math.sqrt(abar[t])
        y_t, eps, g = _np(step.y_t[b]), _np(step.eps_theta[b]), _np(step.field_c[b])
        y0 = (y_t - gb * eps) / sa
        y0_c = (y_t - gb * (eps - gb * g)) / sa
        x, x_c = 2 * (y0 / SCALE) + 1, 2 * (y0_c / SCALE) + 1
        z_hat = (weight @ x.ravel() + bias).reshape(N, D)
        z_hat_c = (weight @ x_c.ravel() + bias).reshape(N, D)
        z = _np(step.z[b])
        d_org = np.sqrt(((z_hat - z) ** 2).sum(axis=1))
        d_new = np.sqrt(((z_hat_c - z) ** 2).sum(axis=1))
        d_shift = np.sqrt(((z_hat - z_hat_c) ** 2).sum(axis=1))
        ce_var.append(_log_softmax_ce(d_org - d_new, c))
        ce_inv.append(_log_softmax_ce(d_shift, c))
        ws.append(((y0 - y0_c) ** 2).mean() if mode == "latent" else ((x - x_c) ** 2).mean())
    return np.array(ce_var), np.array(ce_inv), np.array(ws)


@pytest.mark.parametrize("mode", ["latent", "image"])
def test_disentangle_matches_hand_computation(mode: str) -> None:
    step, encoder = _step(seed=1)
    loss = registry.build("loss", "disentangle", {"weight": 0.3, "weight_mode": mode})
    out = loss(step)
    ce_var, ce_inv, w = _hand_terms(step, encoder, mode)
    total = np.mean(w * 0.3 * (ce_var + ce_inv))
    assert out["loss"].item() == pytest.approx(total, rel=1e-5)
    assert out["dis"].item() == pytest.approx(total, rel=1e-5)
    assert out["ce_variant"].item() == pytest.approx(ce_var.mean(), rel=1e-5)
    assert out["ce_invariant"].item() == pytest.approx(ce_inv.mean(), rel=1e-5)
    assert out["w"].item() == pytest.approx(w.mean(), rel=1e-5)
    assert out["dis_lambda"].item() == pytest.approx(0.3)
    # both predictions decoded without quantisation
    assert step.first_stage.quantize_flags == [False, False]


def test_uniform_weight_mode_weights_every_example_by_one() -> None:
    # w ≡ 1 in the loss; the logged w is still the latent one, so the field's growth stays visible
    step, encoder = _step(seed=1)
    out = registry.build("loss", "disentangle", {"weight": 0.3, "weight_mode": "uniform"})(step)
    ce_var, ce_inv, w_latent = _hand_terms(step, encoder, "latent")
    assert out["loss"].item() == pytest.approx(np.mean(0.3 * (ce_var + ce_inv)), rel=1e-5)
    assert out["w"].item() == pytest.approx(w_latent.mean(), rel=1e-5)


def test_t_range_applies_the_term_to_the_examples_in_the_band_only() -> None:
    # t = [0, 7]: with t_range [5, 10) only the second example counts, still divided by B
    step, encoder = _step(seed=1)
    out = DisentangleLoss(DisentangleParams(weight=0.3, t_range=(5, 10)))(step)
    ce_var, ce_inv, w = _hand_terms(step, encoder, "latent")
    assert out["loss"].item() == pytest.approx(0.3 * w[1] * (ce_var[1] + ce_inv[1]) / B, rel=1e-5)
    assert out["w"].item() == pytest.approx(w.mean(), rel=1e-5)  # the logged w: all examples
    out["loss"].backward()
    assert step.field_c.grad[0].abs().sum() == 0 and step.field_c.grad[1].abs().sum() > 0
    assert "only t in [5, 10)" in DisentangleLoss(DisentangleParams(t_range=(5, 10))).describe()


@pytest.mark.parametrize("t_range", [(5, 5), (7, 3), (-1, 4)])
def test_t_range_must_be_an_ordered_band(t_range: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="t_range"):
        DisentangleParams(t_range=t_range)


def test_latent_weight_is_the_closed_form_shift() -> None:
    # ŷ0^c − ŷ0 = (b_t²/√ᾱ_t)·G_c, so w = mean(((1 − ᾱ_t)/√ᾱ_t · G_c)²)
    step, _ = _step(seed=2)
    out = DisentangleLoss(DisentangleParams())(step)
    abar = _alpha_bars()[step.t.numpy()]
    coef = (1 - abar) / np.sqrt(abar)
    expected = np.mean([((coef[b] * _np(step.field_c[b])) ** 2).mean() for b in range(B)])
    assert out["w"].item() == pytest.approx(expected, rel=1e-5)


def test_disentangle_gradient_flows_through_g_c_not_the_target() -> None:
    # Inside the term the target z is detached; the term reaches the encoder only through G_c
    # (which the model computes from the live z_c: tests/disdiff/test_disdiff_model.py).
    step, encoder = _step(seed=3)
    out = DisentangleLoss(DisentangleParams(weight=1.0))(step)
    out["loss"].backward()
    assert step.field_c.grad is not None and step.field_c.grad.abs().sum() > 0
    assert step.z.grad is None  # the target z is detached
    assert step.fields.grad is None
    assert encoder.weight.grad is None


def test_zero_field_gives_zero_loss_and_finite_gradient() -> None:
    step, _ = _step(field_c=torch.zeros(B, 1, 2, 2, requires_grad=True))
    out = DisentangleLoss(DisentangleParams())(step)
    assert out["loss"].item() == 0 and out["w"].item() == 0
    out["loss"].backward()
    assert torch.isfinite(step.field_c.grad).all()


def test_stabilisers_are_options() -> None:
    step, encoder = _step(seed=4, step=25)
    faithful = DisentangleLoss(DisentangleParams(weight=0.1))
    assert "stabilisers: none" in faithful.describe()
    base = faithful(step)

    warm = DisentangleLoss(DisentangleParams(weight=0.1, warmup_steps=100))
    out = warm(step)
    assert out["dis_lambda"].item() == pytest.approx(0.025)
    assert out["loss"].item() == pytest.approx(base["loss"].item() / 4, rel=1e-5)
    with pytest.raises(ValueError, match="training step"):
        warm(_step(seed=4, step=None)[0])

    w_raw = base["w"].item()
    ce_var, ce_inv, w = _hand_terms(step, encoder, "latent")
    normed = DisentangleLoss(DisentangleParams(weight=0.1, w_normalize=True))
    expected = np.mean(w / w.mean() * 0.1 * (ce_var + ce_inv))
    assert normed(step)["loss"].item() == pytest.approx(expected, rel=1e-5)
    cap = float(w.min())
    capped = DisentangleLoss(DisentangleParams(weight=0.1, w_max=cap))(step)
    assert capped["loss"].item() == pytest.approx(np.mean(cap * 0.1 * (ce_var + ce_inv)),
                                                  rel=1e-5)
    assert capped["w"].item() == pytest.approx(w_raw, rel=1e-5)  # the metric stays the raw w
    assert "w normalised" in normed.describe() and "warm-up over 100" in warm.describe()
    assert f"w capped at {cap}" in DisentangleLoss(DisentangleParams(w_max=cap)).describe()
