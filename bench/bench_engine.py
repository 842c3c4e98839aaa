"""Engine overhead: the Trainer's steps/s against a bare hand-written loop on the same small
model, and the EMA update with ``torch._foreach_lerp_`` against a per-tensor Python loop.

    python bench/bench_engine.py [--device cpu|cuda] [--steps 300] [--width 256]

Prints one line per figure and the ratios. A ratio near 1.0 means the engine's bookkeeping
(lr schedule, term logging on the device, the non-finite check's one sync, EMA) costs little
next to the model's own forward/backward/optimiser work.
"""

from __future__ import annotations

import argparse
import io
import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.ema import EMA
from disdiff_core.engine.trainer import Trainer
from disdiff_core.runs import Run


def make_model(width: int, depth: int = 6) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.LayerNorm(width), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(width, width))


def batches(width: int, batch: int, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    x = torch.randn(batch, width, device=device)
    y = torch.randn(batch, width, device=device)
    return itertools.repeat({"x": x, "y": y})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model: nn.Module, data: Iterator[dict[str, torch.Tensor]], steps: int,
              device: torch.device) -> float:
    """The reference: forward, MSE, backward, AdamW step. Returns steps/s."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        batch = next(data)
        loss = (model(batch["x"]) - batch["y"]).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    return steps / (time.perf_counter() - start)


def engine_loop(model: nn.Module, data: Iterator[dict[str, torch.Tensor]], steps: int,
                device: torch.device, **settings: object) -> float:
    """The same work through the Trainer (fp32, no checkpoints). Returns steps/s."""

    def step_fn(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": (model(batch["x"]) - batch["y"]).pow(2).mean()}

    config = TrainConfig(steps=steps, batch_size=1, lr=1e-4, warmup_steps=100,
                         precision="fp32", log_every=100, checkpoint_every=None, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.create(Path(tmp) / "run", stage="backbone", recipe_yaml="")
        trainer = Trainer(model, step_fn, data, config, run, device=device, stream=io.StringIO())
        synchronize(device)
        start = time.perf_counter()
        trainer.fit()
        synchronize(device)
        return steps / (time.perf_counter() - start)


def time_ema(update: Callable[[], None], device: torch.device, repeats: int) -> float:
    """Milliseconds per EMA update."""
    for _ in range(5):
        update()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        update()
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings")
    parser.add_argument("--threads", type=int, default=1, help="CPU intra-op threads")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    print(f"device {device}, threads {torch.get_num_threads()}, width {args.width}, "
          f"batch {args.batch}, steps {args.steps}")

    def fresh() -> nn.Module:
        torch.manual_seed(0)
        return make_model(args.width).to(device)

    data = batches(args.width, args.batch, device)

    def best(loop: Callable[..., float], **settings: object) -> float:
        loop(fresh(), data, 10, device, **settings)  # warm-up: allocator, kernels, caches
        return max(loop(fresh(), data, args.steps, device, **settings)
                   for _ in range(args.repeats))

    bare = best(bare_loop)
    print(f"bare loop                        {bare:9.1f} steps/s")
    variants = {
        "engine, no EMA, no NaN guard": {"ema_decay": None, "nan_guard": None},
        "engine, NaN guard (1 sync/step)": {"ema_decay": None},
        "engine, NaN guard + EMA": {},
        "engine, NaN guard + EMA + clip": {"grad_clip": 1.0},
    }
    for name, settings in variants.items():
        rate = best(engine_loop, **settings)
        print(f"{name:32s} {rate:9.1f} steps/s   ratio to bare {rate / bare:.3f}")

    model = fresh()
    ema = EMA(model, 0.9999, warmup=False)
    live = [p for p in model.parameters()]
    shadow = [ema.shadow[name] for name, _ in model.named_parameters()]

    def python_loop() -> None:
        with torch.no_grad():
            for target, source in zip(shadow, live, strict=True):
                target.lerp_(source, 1e-4)

    repeats = 200
    foreach_ms = time_ema(lambda: ema.update(10), device, repeats)
    loop_ms = time_ema(python_loop, device, repeats)
    print(f"EMA update over {len(live)} tensors: foreach {foreach_ms:.3f} ms, "
          f"python loop {loop_ms:.3f} ms, speed-up {loop_ms / foreach_ms:.2f}x")


if __name__ == "__main__":
    main()
