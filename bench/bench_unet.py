"""Time the reference UNet backbone (16×16×3 latent, batch 8): forward, forward_with_features
and the encoder half alone (what a gradient field reads per step).

    python bench/bench_unet.py [--batch 8] [--repeats 20] [--device cpu|cuda]

Prints milliseconds per call and the ratios: forward_with_features / forward should be ≈ 1
(features come from the same pass), features / forward is the share of the encoder half.
"""

from __future__ import annotations

import argparse

import torch
from timing import timed

from disdiff_core import registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    backbone = registry.build("backbone", "unet").to(device).freeze()
    shape = (args.batch, *backbone.sample_shape)
    y_t = torch.randn(shape, device=device)
    t = torch.randint(0, backbone.schedule.num_timesteps, (args.batch,), device=device)
    params = sum(p.numel() for p in backbone.parameters())
    print(
        f"reference UNet: {params / 1e6:.2f} M parameters, input {shape}, device {device}, "
        f"{torch.get_num_threads()} CPU threads"
    )

    with torch.no_grad():
        forward = timed(lambda: backbone(y_t, t), args.repeats, device, warmup=2)
        with_features = timed(lambda: backbone.forward_with_features(y_t, t), args.repeats,
                              device, warmup=2)
        features = timed(lambda: backbone.features(y_t, t), args.repeats, device, warmup=2)
    print(f"forward                {forward:8.2f} ms")
    ratio = with_features / forward
    print(f"forward_with_features  {with_features:8.2f} ms   ratio to forward {ratio:.3f}")
    print(f"features (encoder)     {features:8.2f} ms   ratio to forward {features / forward:.3f}")


if __name__ == "__main__":
    main()
