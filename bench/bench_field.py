"""Time and peak memory of DisDiff's field: one batched pass over all N factors vs the
reference's per-factor Python loop, at the reference size (16×16×3 latent, base 64, [1, 2, 4, 4],
N = 6, D = 32).

    python bench/bench_field.py [--batch 4] [--repeats 5] [--device cpu|cuda] [--threads N]

Each mode runs in its own subprocess (so CPU peak memory, read from the process's maximum
resident set, is not shared between modes). Measured per mode, on the frozen backbone's features
computed once:

* train: forward + backward of all N fields (the training step's field cost);
* sample: forward of all N fields without gradient (one sampler step's field cost);
* saved: activation memory autograd keeps for the backward pass of one train step (distinct
  storages of the saved tensors; the part of the peak that grows with B·N);
* peak (CUDA only): extra memory allocated by one train step.

Prints milliseconds, MiB, and loop / batched ratios (> 1: the batched pass is better).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable

import torch
from timing import timed

from disdiff_core import registry

NUM_FACTORS, FACTOR_DIM = 6, 32


def saved_activation_mib(step: Callable[[], torch.Tensor]) -> float:
    """MiB of distinct storages autograd saves for backward while ``step()`` builds its graph."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = step()
    loss.backward()
    return sum(storages.values()) / 2**20


def measure(loop: bool, batch: int, repeats: int, device: torch.device) -> dict[str, float]:
    """One mode's numbers (run in a child process)."""
    torch.manual_seed(0)
    backbone = registry.build("backbone", "unet").to(device).freeze()
    field = registry.build(
        "field", "shift-unet", {"per_factor_loop": loop}, backbone=backbone,
        num_factors=NUM_FACTORS, factor_dim=FACTOR_DIM,
    ).to(device)
    y_t = torch.randn(batch, *backbone.sample_shape, device=device)
    t = torch.randint(0, backbone.schedule.num_timesteps, (batch,), device=device)
    z = torch.randn(batch, NUM_FACTORS, FACTOR_DIM, device=device, requires_grad=True)
    features = backbone.features(y_t, t)

    def train_loss() -> torch.Tensor:
        return field(features, t, z).square().mean()

    def train_step() -> None:
        train_loss().backward()

    def sample_step() -> None:
        with torch.no_grad():
            field(features, t, z)

    numbers = {"saved_mib": saved_activation_mib(train_loss)}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        train_step()
        torch.cuda.synchronize(device)
        numbers["peak_mib"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return {
        **numbers,
        "train_ms": timed(train_step, repeats, device),
        "sample_ms": timed(sample_step, repeats, device),
        "field_params_m": sum(p.numel() for p in field.parameters()) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--child", choices=["batched", "loop"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.child:
        print(json.dumps(measure(args.child == "loop", args.batch, args.repeats, device)))
        return

    results = {}
    for mode in ("batched", "loop"):
        command = [sys.executable, __file__, "--child", mode, "--batch", str(args.batch),
                   "--repeats", str(args.repeats), "--device", args.device]
        if args.threads:
            command += ["--threads", str(args.threads)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
    batched, loop = results["batched"], results["loop"]
    print(f"shift-unet field, reference size: N = {NUM_FACTORS}, D = {FACTOR_DIM}, latent 16×16×3, "
          f"base 64, [1, 2, 4, 4]; {batched['field_params_m']:.2f} M parameters; batch "
          f"{args.batch}; device {device}"
          + (f", {args.threads or torch.get_num_threads()} CPU threads" if device.type == "cpu"
             else ""))
    print(f"{'':24}{'batched':>12}{'loop':>12}{'loop/batched':>14}")
    rows = [("train_ms", "train fwd+bwd (ms)"), ("sample_ms", "sample fwd (ms)"),
            ("saved_mib", "saved for bwd (MiB)"), ("peak_mib", "train peak (MiB)")]
    for key, label in rows:
        if key not in batched:
            continue
        ratio = loop[key] / batched[key] if batched[key] > 0 else float("nan")
        print(f"{label:24}{batched[key]:12.1f}{loop[key]:12.1f}{ratio:14.2f}")


if __name__ == "__main__":
    main()
