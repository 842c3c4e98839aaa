"""Parity with the DisDiff reference code: its recorded training step and DDIM run
(tests/fixtures/reference_tiny, described in its README), reproduced through the toolkit's own
path: `disdiff import reference` writes runs, `load_disdiff` builds the model from them, then
`training_losses` with the recorded draws, `backward`, and the `ddim` sampler with the `ldm`
spacing. Every tensor of the recording is compared under its tolerance rule; the worst relative
difference per group is printed (pytest -s shows it)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor
from typer.testing import CliRunner

from disdiff_cli.app import app
from disdiff_core.api import load_disdiff
from disdiff_core.disdiff import DisDiffModel
from disdiff_plugins.importers import ldm_weights

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reference_tiny"
TOLERANCE = 1e-4
ENCODER_GRADS, FIELD_GRADS = "grad/cond_stage_model.", "grad/model.diffusion_model."

#: Recorded name → the toolkit's trace name, for the training step.
STEP_TRACE = {
    "y0": "y0", "z": "z", "y_t": "y_t", "eps_theta": "eps_theta", "fields": "fields",
    "sub_grad": "field_c", "eps_pred": "rec_eps_hat", "loss_simple": "rec_per_example",
    "dis/z_start": "dis_y0_hat", "dis/pred_x0_t": "dis_x_hat", "dis/pred_z": "dis_z_hat",
    "dis/eps_new_hat": "dis_eps_c", "dis/z_start_new": "dis_y0_hat_c",
    "dis/pred_x0_new_t": "dis_x_hat_c", "dis/pred_z_new": "dis_z_hat_c",
    "dis/norm_org": "dis_d_org", "dis/norm_Z": "dis_d_new", "dis/logits": "dis_logits_variant",
    "dis/logits_deta": "dis_logits_invariant", "dis/ce_logits": "dis_ce_variant",
    "dis/ce_logits_deta": "dis_ce_invariant", "dis/dis_weight": "dis_w",
    "dis_loss": "dis_per_example",
}


@pytest.fixture(scope="module")
def expected() -> dict[str, Tensor]:
    return load_file(FIXTURE / "expected.safetensors")


@pytest.fixture(scope="module")
def inputs() -> dict[str, Tensor]:
    return load_file(FIXTURE / "inputs.safetensors")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's checkpoint imported through the command, as a user would."""
    out = tmp_path_factory.mktemp("reference") / "imported"
    result = CliRunner().invoke(app, ["import", "reference", str(FIXTURE / "model.ckpt"),
                                      "--config", str(FIXTURE / "config.yaml"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture()
def model(imported: Path) -> DisDiffModel:
    """The imported DisDiff model, as `load_disdiff` gives it (eval mode)."""
    return load_disdiff(imported / "disdiff", device="cpu")


@pytest.fixture(params=["batched", "loop"])
def training_model(model: DisDiffModel, request: pytest.FixtureRequest) -> DisDiffModel:
    """The model set up as the reference trains: encoder and field in train mode with
    gradients, backbone and first stage frozen; its field evaluated in one batched pass (the
    default) or factor by factor (the reference's loop)."""
    model.field.per_factor_loop = request.param == "loop"
    return model.train().requires_grad_(True)


def _scale(name: str, expected: dict[str, Tensor]) -> float:
    """The tolerance's S: max|E|, or for gradients the largest over the same module's."""
    for prefix in (ENCODER_GRADS, FIELD_GRADS):
        if name.startswith(prefix):
            return max(e.abs().max().item() for k, e in expected.items() if k.startswith(prefix))
    return expected[name].abs().max().item()


def _compare(candidate: dict[str, Tensor], expected: dict[str, Tensor]) -> dict[str, float]:
    """Apply the rule to every candidate tensor; returns the worst relative difference per
    group (the name's first path part) and fails listing every tensor out of tolerance."""
    worst: dict[str, float] = defaultdict(float)
    failures = []
    for name, value in candidate.items():
        reference = expected[name]
        assert tuple(value.shape) == tuple(reference.shape), name
        if not reference.is_floating_point():
            assert torch.equal(value.to(reference.dtype), reference), name
            continue
        error = (value.double() - reference.double()).abs().max().item()
        scale = _scale(name, expected)
        relative = error / scale if scale > 0 else error  # an all-zero tensor: absolute
        group = ("grad/encoder" if name.startswith(ENCODER_GRADS) else
                 "grad/field" if name.startswith(FIELD_GRADS) else
                 name.split("/")[0] if "/" in name else "step")
        worst[group] = max(worst[group], relative)
        if relative > TOLERANCE:
            failures.append(f"{name}: {relative:.2e}")
    print("worst relative difference per group:",
          ", ".join(f"{group} {value:.1e}" for group, value in sorted(worst.items())))
    assert not failures, failures
    return worst


def _step_candidate(model: DisDiffModel, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """One training step on the recorded inputs and draws, under the recording's names."""
    trace: dict[str, Tensor] = {}
    out = model.training_losses(inputs["x0"], t=inputs["t"], noise=inputs["noise"],
                                factor=inputs["sampled_concept"], trace=trace)
    out["loss"].backward()
    candidate = {name: trace[key] for name, key in STEP_TRACE.items()}
    candidate["loss"] = out["loss"].detach()
    candidate["sum_fields"] = trace["fields"].sum(dim=1)
    candidate["part_emb_matrix"] = model.field.factor_embedding.matrix().detach()
    candidate["scale_factor"] = model.first_stage.scale_factor.detach()
    grads = {}
    for maps, module in ((ldm_weights.conv4_encoder_map(model.encoder), model.encoder),
                         (ldm_weights.shift_field_map(model.field, legacy_attention=True),
                          model.field)):
        named = {key: p.grad for key, p in module.named_parameters() if p.grad is not None}
        grads.update({f"grad/{k}": v for k, v in ldm_weights.to_reference(maps, named).items()})
    statistics = {key: value for key, value in model.encoder.state_dict().items()
                  if key.endswith(("running_mean", "running_var"))}
    bn_after = ldm_weights.to_reference(ldm_weights.conv4_encoder_map(model.encoder), statistics)
    return {**candidate, **grads, **{f"bn_after/{k}": v for k, v in bn_after.items()}}


def test_training_step_matches_the_reference(training_model: DisDiffModel, inputs,
                                             expected) -> None:
    candidate = _step_candidate(training_model, inputs)
    recorded = {name for name in expected
                if not name.startswith(("sample/", "schedule/"))}
    assert set(candidate) == recorded  # every recorded tensor of the step is compared
    worst = _compare(candidate, expected)
    assert {"step", "dis", "grad/encoder", "grad/field", "bn_after"} <= set(worst)


def test_schedule_matches_the_reference(model: DisDiffModel, expected) -> None:
    s = model.schedule
    abar, abar_prev = s.alphas_cumprod, s.alphas_cumprod_prev
    candidate = {
        "betas": s.betas, "alphas_cumprod": abar, "alphas_cumprod_prev": abar_prev,
        "sqrt_alphas_cumprod": s.sqrt_alphas_cumprod,
        "sqrt_one_minus_alphas_cumprod": s.sqrt_one_minus_alphas_cumprod,
        "log_one_minus_alphas_cumprod": (1 - abar.double()).log(),
        "sqrt_recip_alphas_cumprod": (1 / abar.double()).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / abar.double() - 1).sqrt(),
        "posterior_variance": s.posterior_variance,
        # the reference clips log β̃ at 1e-20; the toolkit (guided-diffusion's convention)
        # replaces β̃_0 = 0 by β̃_1: they differ at t = 0 only, a value no sampler uses
        "posterior_log_variance_clipped": s.posterior_variance.clamp_min(1e-20).log(),
        "posterior_mean_coef1": s.posterior_mean_coef1,
        "posterior_mean_coef2": s.posterior_mean_coef2,
        # the reference stores both coefficients with a minus sign
        "shift_coef": -s.shift_coef, "ddim_coef": -s.guidance_coef,
    }
    candidate = {f"schedule/{name}": value for name, value in candidate.items()}
    assert set(candidate) == {name for name in expected if name.startswith("schedule/")}
    _compare(candidate, expected)
    torch.testing.assert_close(s.posterior_log_variance_clipped[1:],
                               candidate["schedule/posterior_log_variance_clipped"][1:])


@torch.no_grad()
def test_ddim_matches_the_reference_sampler(model: DisDiffModel, inputs, expected) -> None:
    from disdiff_core import registry

    z, x_T = inputs["sample/z"], inputs["sample/x_T"]
    sampler = registry.build("sampler", "ddim", {"steps": 4, "eta": 0.0, "spacing": "ldm"})
    timesteps = sampler.timesteps(model.schedule.num_timesteps)
    eps_fn = model.conditional_eps(z)
    record: dict[str, list[Tensor]] = defaultdict(list)

    def recording_eps(y_t: Tensor, t: Tensor) -> Tensor:
        eps_theta, features = model.backbone.forward_with_features(y_t, t)
        record["x_t"].append(y_t)
        record["eps_theta"].append(eps_theta)
        record["fields"].append(model.field(features, t, z))
        record["e_t"].append(eps_fn(y_t, t))
        return record["e_t"][-1]

    final = sampler.sample(recording_eps, model.schedule, x_T, deterministic=True,
                           callback=lambda step: (record["x_prev"].append(step.y),
                                                  record["pred_x0"].append(step.x0)))
    abar = model.schedule.alpha_bar(timesteps + [0])
    candidate = {name: torch.stack(values) for name, values in record.items()}
    candidate |= {
        "final": final, "ddim_timesteps": torch.tensor(timesteps),
        "a_t": abar[:-1], "a_prev": abar[1:],
        "sqrt_one_minus_at": (1 - abar[:-1]).sqrt(), "sigma_t": torch.zeros(4),
        "e_t_coef": -(1 - abar[:-1]).sqrt(),
        "partial_factor": expected["sample/partial_factor"],
        "partial_e_t": model.conditional_eps(z, [int(expected["sample/partial_factor"])])(
            x_T, torch.full((x_T.shape[0],), timesteps[0])),
    }
    candidate = {f"sample/{name}": value for name, value in candidate.items()}
    assert set(candidate) == {name for name in expected if name.startswith("sample/")}
    _compare(candidate, expected)
