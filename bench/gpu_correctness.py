"""Is the fast training step the same computation? bf16 autocast + ``torch.compile`` + fused
attention against eager references, on one DisDiff training step at a named configuration
(``bench_step.CONFIGS``), same inputs and same random draws (t, ε and the sampled factor are
passed in).

    python bench/gpu_correctness.py [--config paper|tiny] [--device cuda|cpu] [--batch B]

Two references run eager with the math attention: fp64, and true fp32 (no TF32 in matmuls or
cuDNN). The zero-initialised layers (the field's output, attention projections, second
convolutions) get small random weights first, otherwise their zeros stop the gradient from
reaching most of the field and the check would compare zeros. Compared against fp64:

* the loss: relative error, against an absolute tolerance;
* the gradients of the encoder and of the field, each as one flattened vector: relative L2
  error ‖g − g64‖ / ‖g64‖, against a multiple of the fp32 reference's own error (its *floor*).

Why a floor and not a fixed tolerance: the encoder's gradient reaches it only through the
field's conditioning, the longest chain of the step, and it is sensitive to rounding. At the
paper configuration plain fp32 already differs from fp64 by 2.5 % (encoder) and 0.8 % (field)
on a CPU, batch 4; bf16 autocast by 13 % and 5 %, about 5× and 6× the floor. On an H200 a fixed
1e-3 failed an fp32 check whose only difference was the attention kernel and TF32 convolutions
(3.7e-2, encoder), although the losses agreed to 1e-5.

Candidates: fp32 eager with the fused attention kernels forced and TF32 off (errors if a layout
is refused), which isolates the kernels, and bf16 + compiled (default attention dispatch: the
fused kernels; TF32 convolutions on, as the trainer runs); one compilation, to keep
``gpu_check.sh`` within its time. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from bench_step import CONFIGS, build_model, images
from torch.nn.attention import SDPBackend, sdpa_kernel

from disdiff_core.disdiff import DisDiffModel

FUSED = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


@dataclass(frozen=True)
class Check:
    name: str
    compiled: bool
    bf16: bool
    backends: list[SDPBackend] | None  # None: PyTorch's default dispatch
    tf32: bool  # cuDNN and matmuls in TF32 (the trainer's default for convolutions)
    loss_rtol: float
    grad_floors: float  # allowed gradient error, in multiples of the fp32 reference's own


CHECKS = [
    Check("fp32 eager, fused attention forced", False, False, FUSED, False, 1e-4, 2.0),
    Check("bf16 + compiled + fused attention", True, True, None, True, 2e-2, 8.0),
]


@dataclass
class Outcome:
    loss: float
    grads: dict[str, torch.Tensor]  # component → flattened gradient


def randomise_zero_layers(model: DisDiffModel, seed: int = 0) -> None:
    """Give every all-zero trained parameter N(0, 0.02²) values (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad and not param.any():
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)


def run_step(model: DisDiffModel, buffers: list[torch.Tensor], draws: dict[str, torch.Tensor],
             x0: torch.Tensor, check: Check | None) -> Outcome:
    """Loss and gradients of one step from the model's initial ``buffers`` (a step updates the
    encoder's BatchNorm statistics, which the frozen encoder copy then uses); ``check`` None
    is the fp32 eager math reference."""
    with torch.no_grad():
        torch._foreach_copy_(list(model.buffers()), buffers)
    forward: Callable[..., dict[str, torch.Tensor]] = model.training_losses
    if check is not None and check.compiled:
        forward = torch.compile(model.training_losses)
    backends = [SDPBackend.MATH] if check is None else check.backends
    model.zero_grad(set_to_none=True)
    with (sdpa_kernel(backends) if backends else contextlib.nullcontext(),
          torch.autocast(x0.device.type, dtype=torch.bfloat16,
                         enabled=check is not None and check.bf16)):
        loss = forward(x0, **draws)["loss"]
    loss.backward()
    grads = {name: torch.cat([p.grad.flatten().float() for p in part.parameters()
                              if p.grad is not None])
             for name, part in (("encoder", model.encoder), ("field", model.field))}
    return Outcome(loss.item(), grads)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b).norm() / b.norm().clamp_min(1e-30))


def fp64_step(model: DisDiffModel, buffers: list[torch.Tensor], draws: dict[str, torch.Tensor],
              x0: torch.Tensor) -> Outcome:
    """The step in fp64, on a copy of the model (the gradients stay fp64)."""
    def wide(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.double() if tensor.is_floating_point() else tensor

    return run_step(copy.deepcopy(model).double(), [wide(b) for b in buffers],
                    {name: wide(value) for name, value in draws.items()}, wide(x0), None)


def errors_against(outcome: Outcome, exact: Outcome) -> dict[str, float]:
    """Relative error of the loss and of each gradient against the fp64 step."""
    return {"loss": abs(outcome.loss - exact.loss) / abs(exact.loss)} | {
        f"grad {name}": relative(outcome.grads[name], exact.grads[name]) for name in exact.grads}


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="paper")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    config = CONFIGS[args.config]
    torch.manual_seed(0)
    model, _ = build_model(config, per_factor_loop=False, device=device)
    randomise_zero_layers(model)
    model.train()
    x0 = images(model, args.batch or config.batch, device)
    gen = torch.Generator().manual_seed(1)
    batch = x0.shape[0]
    draws = {
        "t": torch.randint(0, model.schedule.num_timesteps, (batch,), generator=gen),
        "noise": torch.randn(batch, *model.backbone.sample_shape, generator=gen),
        "factor": torch.randint(0, model.num_factors, (batch,), generator=gen),
    }
    draws = {name: value.to(device) for name, value in draws.items()}

    buffers = [buffer.clone() for buffer in model.buffers()]
    exact = fp64_step(model, buffers, draws, x0)
    set_tf32(False)
    floor = errors_against(run_step(model, buffers, draws, x0, None), exact)
    print(f"config {args.config}, batch {batch}, device {device}: fp64 loss {exact.loss:.6f}; "
          "fp32 eager, math attention, no TF32 (the floor): "
          + ", ".join(f"{name} {value:.2e}" for name, value in floor.items()))
    failed = False
    for check in CHECKS:
        if check.bf16 and device.type != "cuda":
            print(f"skip  {check.name}: bf16 is checked on CUDA only")
            continue
        set_tf32(check.tf32)
        errors = errors_against(run_step(model, buffers, draws, x0, check), exact)
        limits = {name: check.loss_rtol if name == "loss"
                  else check.grad_floors * max(floor[name], 1e-7) for name in errors}
        ok = all(errors[name] <= limits[name] for name in errors)
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {check.name}: "
              + ", ".join(f"{name} {errors[name]:.2e} (≤ {limits[name]:.1e})" for name in errors))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
