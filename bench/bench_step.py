"""One DisDiff training step (``model.training_losses``, backward, AdamW, EMA) at a named
configuration, and the sampling side: a swap grid of ≥ 64 images with 50 DDIM steps.

    python bench/bench_step.py [--config paper|tiny] [--modes batched loop]
        [--compile no|yes|both] [--dtypes fp32 bf16] [--steps 3] [--batch B]
        [--device cpu|cuda] [--threads N] [--sample [--grid-steps 50]] [--json FILE]

Configurations, built with the toolkit's own plugins from the shipped recipes (untrained
weights: a step costs the same whatever their values):

* ``paper``: the reference Shapes3D set-up at batch 16: VQ-f4 first stage, 64×64 → 16×16×3
  (``recipes/_paper/autoencoder.yaml``); ADM backbone base 64, [1, 2, 4, 4], attention at
  16/8/4 px, 8 heads, ≈ 29.4 M (``_paper/backbone.yaml``); conv4 encoder N = 6, D = 32,
  ≈ 1.5 M, and shift-unet field ≈ 22.7 M (``_paper/disdiff.yaml``);
* ``tiny``: ``recipes/tiny`` (pixel space, 16×16), batch 8; a step takes well under a second.

Variants: field mode (``batched``: factor axis folded into the batch; ``loop``: one decoder
pass per factor) × eager / ``torch.compile`` (``--compile yes``: compiled only; ``both``) × dtype
(``bf16``: autocast, CUDA only; weights and optimiser stay fp32, as the trainer does). Each
variant runs in its own subprocess, so its peak memory is its own. Printed per variant:
images/s (median step), peak RSS (CPU: the process's maximum resident set, model included) or
peak allocated memory (CUDA), the FLOPs of one step (forward + backward, counted by
``torch.utils.flop_counter.FlopCounterMode``) and, on a known GPU, the model FLOP utilisation
= FLOPs per second / the device's dense peak for the dtype (:data:`PEAK_TFLOPS`). Then the
ratios between variants measured in this same run.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from timing import timed
from torch.utils.flop_counter import FlopCounterMode

from disdiff_core import editing, registry
from disdiff_core.disdiff import DisDiffModel
from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.ema import EMA
from disdiff_core.recipes.compose import compose
from disdiff_core.recipes.model import Component
from disdiff_core.recipes.resolve import recipes_dir
from disdiff_core.stages.components import build_component
from disdiff_core.stages.plan import IDENTITY

#: Images of the swap grid (rounded up to whole rows of N factors) and its DDIM steps.
GRID_IMAGES, GRID_STEPS = 64, 50

#: Dense peak TFLOP/s (no sparsity) by a fragment of the CUDA device name. fp32 is the TF32
#: tensor-core peak: cuDNN runs fp32 convolutions, most of a step, in TF32 by default
#: (``torch.backends.cudnn.allow_tf32``).
PEAK_TFLOPS = {
    "H200": {"bf16": 989.4, "fp32": 494.7},
    "H100": {"bf16": 989.4, "fp32": 494.7},
    "A100": {"bf16": 312.0, "fp32": 156.0},
}


@dataclass(frozen=True)
class Config:
    """Where a configuration's components come from: shipped recipe files (``first_stage``
    None: pixel space) and the batch."""

    first_stage: str | None
    backbone: str
    disdiff: str
    batch: int


CONFIGS = {
    "paper": Config("_paper/autoencoder.yaml", "_paper/backbone.yaml", "_paper/disdiff.yaml", 16),
    "tiny": Config(None, "tiny/backbone.yaml", "tiny/disdiff.yaml", 8),
}


@dataclass(frozen=True)
class Variant:
    mode: str  # batched | loop
    compiled: bool
    dtype: str  # fp32 | bf16

    @property
    def name(self) -> str:
        return f"{self.mode} {'compile' if self.compiled else 'eager'} {self.dtype}"

    def args(self) -> list[str]:
        return [self.mode, "compile" if self.compiled else "eager", self.dtype]


def _recipe(name: str) -> dict:
    return compose(recipes_dir() / name).data


def build_model(config: Config, *, per_factor_loop: bool,
                device: torch.device) -> tuple[DisDiffModel, TrainConfig]:
    """The configuration's DisDiff model on ``device`` (as the ``disdiff`` stage assembles it,
    random weights) and its recipe's training settings."""
    disdiff = _recipe(config.disdiff)
    first_stage = (Component.model_validate(_recipe(config.first_stage)["first_stage"])
                   if config.first_stage else IDENTITY)
    backbone = build_component("backbone", "backbone",
                               Component.model_validate(_recipe(config.backbone)["backbone"]),
                               frozen=True)
    encoder = build_component("encoder", "encoder", Component.model_validate(disdiff["encoder"]),
                              frozen=False)
    field = Component.model_validate(disdiff["field"])
    field.params = {**field.params, "per_factor_loop": per_factor_loop}
    model = DisDiffModel(
        backbone,
        build_component("first_stage", "first_stage", first_stage, frozen=True),
        encoder,
        build_component("field", "field", field, frozen=False, backbone=backbone,
                        num_factors=encoder.num_factors, factor_dim=encoder.factor_dim),
        [registry.build("loss", term["plugin"], term.get("params") or {})
         for term in disdiff["losses"]],
    )
    return model.to(device), TrainConfig.model_validate(disdiff["train"])


def images(model: DisDiffModel, count: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """``count`` random model inputs in [-1, 1] of the size the model's first stage takes."""
    _, height, width = model.backbone.sample_shape
    f = model.first_stage.downsample
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 3, height * f, width * f, generator=gen) * 2 - 1).to(device)


def training_step(model: DisDiffModel, train: TrainConfig, x0: torch.Tensor, *,
                  compiled: bool, bf16: bool) -> Callable[[], None]:
    """One optimiser step as the trainer takes it: forward under optional bf16 autocast,
    backward, AdamW, EMA update."""
    device = x0.device
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=train.lr, betas=train.betas,
        weight_decay=train.weight_decay, fused=device.type == "cuda",
    )
    ema = EMA(model, train.ema_decay or 0.9999)
    forward = torch.compile(model.training_losses) if compiled else model.training_losses
    done = 0

    def step() -> None:
        nonlocal done
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = forward(x0)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        done += 1
        ema.update(done)

    return step


def step_flops(model: DisDiffModel, x0: torch.Tensor, bf16: bool) -> int:
    """FLOPs of one forward + backward (matmuls, convolutions, attention), counted eagerly."""
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.training_losses(x0)["loss"]
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def peak_tflops(device: torch.device, dtype: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peaks[dtype] for key, peaks in PEAK_TFLOPS.items() if key in name), None)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def grid_seconds(model: DisDiffModel, steps: int, device: torch.device) -> tuple[float, int]:
    """Seconds for a swap grid (one source, ⌈64/N⌉ targets: N·⌈64/N⌉ images) with ``steps``
    DDIM steps (inversion of the source included), and its number of images."""
    sampler = registry.build("sampler", "ddim", {"steps": steps})
    targets = math.ceil(GRID_IMAGES / model.num_factors)
    inputs = images(model, targets + 1, device, seed=1)
    model.eval()
    synchronize(device)
    start = time.perf_counter()
    grid = editing.swap(model, sampler, inputs[:1], inputs[1:])
    synchronize(device)
    return time.perf_counter() - start, grid.shape[0] * grid.shape[1]


def measure(config: Config, variant: Variant, *, batch: int, steps: int,
            grid_steps: int | None, device: torch.device) -> dict[str, float]:
    """One variant's numbers (run in a child process); the swap grid's with ``grid_steps``."""
    torch.manual_seed(0)
    model, train = build_model(config, per_factor_loop=variant.mode == "loop", device=device)
    model.train()
    x0 = images(model, batch, device)
    bf16 = variant.dtype == "bf16"
    flops = step_flops(model, x0, bf16)
    step = training_step(model, train, x0, compiled=variant.compiled, bf16=bf16)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ms = timed(step, steps, device, warmup=2 if variant.compiled else 1)
    numbers = {"images_per_s": batch / ms * 1000, "step_ms": ms, "peak_mib": peak_memory_mib(device),
               "gflop_per_step": flops / 1e9}
    peak = peak_tflops(device, variant.dtype)
    if peak is not None:
        numbers["mfu"] = flops / (ms / 1000) / (peak * 1e12)
    if grid_steps is not None:
        numbers["grid_s"], numbers["grid_images"] = grid_seconds(model, grid_steps, device)
    return numbers


def print_ratios(results: dict[Variant, dict[str, float]]) -> None:
    """Speed ratios between variants that differ in one setting (> 1: the second is faster)."""
    pairs = [("loop → batched", lambda v: v.mode == "loop", lambda v: Variant("batched", v.compiled, v.dtype)),
             ("eager → compile", lambda v: not v.compiled, lambda v: Variant(v.mode, True, v.dtype)),
             ("fp32 → bf16", lambda v: v.dtype == "fp32", lambda v: Variant(v.mode, v.compiled, "bf16"))]
    for label, is_base, other in pairs:
        for base in filter(is_base, results):
            faster = other(base)
            if faster not in results:
                continue
            line = (f"{label} ({base.name}): images/s ×"
                    f"{results[faster]['images_per_s'] / results[base]['images_per_s']:.2f}")
            if "grid_s" in results[base] and "grid_s" in results[faster]:
                line += f", swap grid ×{results[base]['grid_s'] / results[faster]['grid_s']:.2f}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="paper")
    parser.add_argument("--modes", nargs="+", choices=["batched", "loop"],
                        default=["batched", "loop"])
    parser.add_argument("--compile", choices=["no", "yes", "both"], default="no",
                        help="time the step eager (no), compiled (yes) or both")
    parser.add_argument("--dtypes", nargs="+", choices=["fp32", "bf16"], default=None,
                        help="default: fp32 and bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--batch", type=int, default=None, help="default: the configuration's")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--sample", action="store_true", help="also time the swap grid")
    parser.add_argument("--grid-steps", type=int, default=GRID_STEPS, help="DDIM steps of the grid")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = CONFIGS[args.config]
    batch = args.batch or config.batch
    if args.child:
        mode, compiled, dtype = args.child
        variant = Variant(mode, compiled == "compile", dtype)
        grid_steps = args.grid_steps if args.sample else None
        print(json.dumps(measure(config, variant, batch=batch, steps=args.steps,
                                 grid_steps=grid_steps, device=device)))
        return

    dtypes = args.dtypes or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    compiled_options = {"no": [False], "yes": [True], "both": [False, True]}[args.compile]
    variants = [Variant(mode, compiled, dtype) for dtype in dtypes for compiled in
                compiled_options for mode in args.modes]
    print(f"DisDiff training step, config {args.config}, batch {batch}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f", {args.threads or torch.get_num_threads()} CPU threads")
          + f", {args.steps} timed steps (median)")
    memory = "peak alloc MiB" if device.type == "cuda" else "peak RSS MiB"
    print(f"{'variant':24}{'images/s':>10}{'step ms':>10}{memory:>16}{'GFLOP/step':>12}"
          f"{'MFU':>8}" + (f"{'grid s':>9}" if args.sample else ""))
    results: dict[Variant, dict[str, float]] = {}
    for variant in variants:
        command = [sys.executable, __file__, "--config", args.config, "--batch", str(batch),
                   "--steps", str(args.steps), "--device", args.device, "--child",
                   *variant.args()]
        command += ["--threads", str(args.threads)] if args.threads else []
        command += ["--sample", "--grid-steps", str(args.grid_steps)] if args.sample else []
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        numbers = results[variant] = json.loads(output.strip().splitlines()[-1])
        mfu = f"{numbers['mfu']:.1%}" if "mfu" in numbers else "-"
        grid = (f"{numbers['grid_s']:9.1f}" if args.sample else "")
        print(f"{variant.name:24}{numbers['images_per_s']:10.2f}{numbers['step_ms']:10.0f}"
              f"{numbers['peak_mib']:16.0f}{numbers['gflop_per_step']:12.1f}{mfu:>8}{grid}",
              flush=True)
    if args.sample:
        grid_images = int(next(iter(results.values()))["grid_images"])
        print(f"grid s: a swap grid of {grid_images} images, {args.grid_steps} DDIM steps")
    print_ratios(results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({variant.name: numbers for variant, numbers in results.items()}, file,
                      indent=1)


if __name__ == "__main__":
    main()
