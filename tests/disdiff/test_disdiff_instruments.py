"""The instruments of a DisDiff run: what the disentangling logits decide (top-1 accuracy,
spread), where w comes from (timestep slices), the codes' scale, and how much of the encoder's
learning signal each term carries."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from disdiff_toys import images, tiny_model
from test_disdiff_losses import B, T, _step

from disdiff_core.term_probe import disentangle_accuracy
from disdiff_plugins.losses.disentangle import DisentangleLoss
from disdiff_plugins.losses.mean_shift import MeanShiftLoss
from disdiff_plugins.losses.specs import DisentangleParams, MeanShiftParams


def test_logit_accuracy_spread_and_w_slices_match_the_logits() -> None:
    step, _ = _step(seed=5)
    step = dataclasses.replace(step, trace={})
    out = DisentangleLoss(DisentangleParams())(step)
    for name in ("variant", "invariant"):
        logits = step.trace[f"dis_logits_{name}"]
        hits = (logits.argmax(-1) == step.factor).float().mean()
        assert out[f"acc_{name}"].item() == pytest.approx(hits.item())
        spread = (logits.max(-1).values - logits.min(-1).values).mean()
        assert out[f"spread_{name}"].item() == pytest.approx(spread.item(), rel=1e-6)
    slices = [out[f"w_t{k}"].item() for k in range(5)]
    assert sum(slices) == pytest.approx(out["w"].item(), rel=1e-6)
    # t = [0, 7] of T = 10: the first example in slice 0, the second in slice 3
    w = step.trace["dis_w"]
    assert slices[0] == pytest.approx(w[0].item() / B) and slices[3] == pytest.approx(
        w[1].item() / B) and T == 10


def test_code_norms_are_logged_per_factor() -> None:
    model = tiny_model(field_seed=5)
    trace: dict[str, torch.Tensor] = {}
    out = model.training_losses(images(), generator=torch.Generator().manual_seed(0),
                                trace=trace)
    norms = trace["z"].norm(dim=-1).mean(dim=0)
    for k, norm in enumerate(norms):
        assert out[f"z_norm_{k}"].item() == pytest.approx(norm.item(), rel=1e-5)


@pytest.mark.parametrize("code_gradient", ["live", "detached"])
def test_gradient_split_between_the_terms(code_gradient: str) -> None:
    losses = [MeanShiftLoss(MeanShiftParams()),
              DisentangleLoss(DisentangleParams(weight=1.0, code_gradient=code_gradient))]
    model = tiny_model(field_seed=5, losses=losses).train()
    before = {k: v.clone() for k, v in model.encoder.named_buffers()}
    norms = model.code_gradient_norms(images(), generator=torch.Generator().manual_seed(1))
    assert set(norms) == {"rec", "dis"} and norms["rec"] > 0
    # the disentangling term reaches the codes only on the live path
    assert (norms["dis"] > 0) == (code_gradient == "live")
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.named_buffers())


def test_probe_accuracy_counts_argmax_hits_per_timestep_slice() -> None:
    # A zero field (the field's initial state) moves nothing: every distance ties, argmax picks
    # code 0, so the probe's accuracy is exactly the share of examples whose factor is 0.
    model = tiny_model().train()
    result = disentangle_accuracy(model, images(batch=6), slices=2, batch_size=4, seed=3)
    generator = torch.Generator().manual_seed(3)
    expected = []
    for k in range(2):
        hits = 0
        for x0 in images(batch=6).split(4):
            steps = model.schedule.num_timesteps
            torch.randint(k * steps // 2, (k + 1) * steps // 2, (x0.shape[0],), generator=generator)
            factor = torch.randint(0, model.num_factors, (x0.shape[0],), generator=generator)
            torch.randn(x0.shape[0], *model.backbone.sample_shape, generator=generator)
            hits += int((factor == 0).sum())
        expected.append(hits / 6)
    for name in ("variant", "invariant"):
        assert [result[f"acc_{name}_t{k}"] for k in range(2)] == pytest.approx(expected)
        assert result[f"acc_{name}"] == pytest.approx(sum(expected) / 2)
    assert model.training  # the probe puts the model back in its mode


def test_probe_accuracy_of_a_trained_field_is_not_pinned_to_code_zero() -> None:
    model = tiny_model(field_seed=5)
    result = disentangle_accuracy(model, images(batch=8), slices=1, seed=0)
    assert 0.0 <= result["acc_invariant"] <= 1.0
    assert set(result) == {"acc_variant", "acc_variant_t0", "acc_invariant", "acc_invariant_t0"}


def test_gradient_split_follows_a_lambda_warm_up() -> None:
    # the gradient instrument runs inside training, where a λ warm-up needs the step
    losses = [MeanShiftLoss(MeanShiftParams()),
              DisentangleLoss(DisentangleParams(weight=1.0, warmup_steps=10))]
    model = tiny_model(field_seed=5, losses=losses).train()
    half, full = (model.code_gradient_norms(images(), generator=torch.Generator().manual_seed(1),
                                            step=step) for step in (5, 10))
    assert half["rec"] == pytest.approx(full["rec"])
    assert half["dis"] == pytest.approx(full["dis"] / 2, rel=1e-4) and full["dis"] > 0
