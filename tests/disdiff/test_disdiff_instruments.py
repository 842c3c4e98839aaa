"""The instruments of a DisDiff run: what the disentangling logits decide (top-1 accuracy,
spread), where w comes from (timestep slices), the codes' scale, and how much of the encoder's
learning signal each term carries."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from disdiff_toys import images, tiny_model
from test_disdiff_losses import B, T, _step

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
