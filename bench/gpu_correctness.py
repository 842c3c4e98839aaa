"""Is the fast training step the same computation? bf16 autocast + ``torch.compile`` + fused
attention against an fp32 eager reference, on one DisDiff training step at a named configuration
(``bench_step.CONFIGS``), same inputs and same random draws (t, ε and the sampled factor are
passed in).

    python bench/gpu_correctness.py [--config paper|tiny] [--device cuda|cpu] [--batch B]

The reference runs in true fp32 (no TF32 in matmuls or cuDNN) with the math attention; the
zero-initialised layers (the field's output, attention projections, second convolutions) get
small random weights first, otherwise their zeros stop the gradient from reaching most of the
field and the check would compare zeros. Compared, with the tolerances of :data:`CHECKS`:

* the loss: relative error;
* the gradients of the encoder and of the field, each as one flattened vector: relative L2
  error ‖g − g_ref‖ / ‖g_ref‖ (bf16 keeps 8 bits of mantissa, so a few per cent is expected
  after a forward and a backward through ~100 layers).

Candidates: fp32 eager with the fused attention kernels forced (errors if a layout is refused),
and bf16 + compiled (default attention dispatch: the fused kernels); one compilation, to keep
``gpu_check.sh`` within its time. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
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
    loss_rtol: float
    grad_rtol: float


CHECKS = [
    Check("fp32 eager, fused attention forced", False, False, FUSED, 1e-4, 1e-3),
    Check("bf16 + compiled + fused attention", True, True, None, 2e-2, 5e-2),
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
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


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

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    buffers = [buffer.clone() for buffer in model.buffers()]
    reference = run_step(model, buffers, draws, x0, None)
    torch.backends.cudnn.allow_tf32 = True  # the default the fast step runs with
    print(f"config {args.config}, batch {batch}, device {device}: reference loss "
          f"{reference.loss:.6f} (fp32 eager, math attention, no TF32)")
    failed = False
    for check in CHECKS:
        if check.bf16 and device.type != "cuda":
            print(f"skip  {check.name}: bf16 is checked on CUDA only")
            continue
        outcome = run_step(model, buffers, draws, x0, check)
        errors = {"loss": abs(outcome.loss - reference.loss) / abs(reference.loss)}
        errors |= {f"grad {name}": relative(outcome.grads[name], reference.grads[name])
                   for name in reference.grads}
        ok = errors["loss"] <= check.loss_rtol and all(
            value <= check.grad_rtol for name, value in errors.items() if name != "loss")
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {check.name}: "
              + ", ".join(f"{name} {value:.2e}" for name, value in errors.items())
              + f" (tolerances: loss {check.loss_rtol:g}, gradients {check.grad_rtol:g})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
