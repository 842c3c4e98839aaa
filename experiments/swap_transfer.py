"""Which attribute does each factor row of a swap grid change? Measured, not eyeballed, on
synth-shapes3d, whose renderer knows where the floor, the walls and the object are.

    python experiments/swap_transfer.py RUN [RUN ...] --data STORE [--sources 8] [--targets 8]
        [--steps 25] [--seed 0] [--json out.json]

For each run, ``--sources`` source images and ``--targets`` target images are drawn from the
store (``--seed``); every (source, target, factor k) swap is sampled from the source's DDIM
inversion, as ``disdiff sample --mode swap`` draws it. For each of the three colour factors
(floor, wall and object hue) the colour of that surface in the swapped image is read over the
pixels the renderer assigns wholly to it (light maps of the source's geometry, a region where
the surface covers the pixel alone), and compared with the source as the model reproduces it
(the unedited cell):

    transfer = <c_swap − c_unedited, Δ> / |Δ|²,   Δ = c_source rendered with the target's hue
                                                       − c_source as rendered

0 keeps the source's colour, 1 takes the target's. Pairs whose two hues are equal carry no
signal and are skipped. A row that changes one attribute has one transfer near 1 and the others
near 0. The geometric factors (scale, shape, orientation) have no such pixel-exact readout and
are not measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from disdiff_core import editing, registry
from disdiff_core.app.runs import load_run
from disdiff_core.data.store import open_store
from disdiff_plugins.datasets.synth_shapes3d import FACTOR_NAMES, SynthShapes3D

#: The colour factors (column of the store's factors = surface class of the light maps).
SURFACES = {"floor_hue": 0, "wall_hue": 1, "object_hue": 2}
#: A pixel belongs to a surface when that surface's light reaches it and no other's does.
ALONE = 1e-3
#: Pairs whose ideal colour difference is smaller than this (0–1 RGB units) are skipped.
MIN_DELTA = 0.05


def region_colours(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Mean RGB in [0, 1] of each image over each surface's mask: images (B, H, W, 3) uint8,
    masks (B, S, H, W) bool → (B, S, 3)."""
    pixels = images.astype(np.float64) / 255.0
    counts = masks.sum(axis=(2, 3))[..., None]
    return np.einsum("bshw,bhwc->bsc", masks, pixels) / np.maximum(counts, 1)


def surface_masks(renderer: SynthShapes3D, factors: np.ndarray) -> np.ndarray:
    """(B, 3, H, W) bool: the pixels lit by one surface only, for each image's geometry."""
    masks = []
    for row in factors:
        maps = renderer.light_maps(int(row[3]), int(row[4]))[int(row[5])]
        others = maps.sum(axis=0, keepdims=True) - maps
        masks.append((maps > 0.05) & (others < ALONE))
    return np.stack(masks)


def transfer_matrix(run: Path, store_path: Path, sources: int, targets: int, steps: int,
                    seed: int) -> dict:
    """The (factor k × colour factor) mean transfers of one run, with their pair counts."""
    store = open_store(store_path)
    if list(store.factor_names) != FACTOR_NAMES:
        raise SystemExit(f"{store_path} is not a synth-shapes3d store (factors "
                         f"{store.factor_names})")
    size = store.image_shape[0]
    renderer = registry.build("dataset", "synth-shapes3d", {"size": size})
    loaded = load_run(run, device="cpu")
    model = loaded.model
    sampler = editing.build_sampler(loaded.recipe.sample.sampler, steps=steps, invertible=True)
    rng = np.random.default_rng(seed)
    rows = rng.choice(store.num_images, size=sources + targets, replace=False)
    order = np.argsort(rows)  # the store reads rows in increasing order
    images = np.empty((len(rows), *store.image_shape), np.uint8)
    images[order] = store.read_rows(rows[order])
    factors = store.factors[rows]
    target_images, target_factors = images[sources:], factors[sources:]
    n = model.num_factors
    sums = np.zeros((n, len(SURFACES)))
    counts = np.zeros((n, len(SURFACES)), dtype=np.int64)
    for i in range(sources):
        source, source_factors = images[i:i + 1], factors[i]
        grid = editing.swap(model, sampler, source, target_images)  # (N, T, H, W, 3)
        base = editing.unedited(model, sampler, source)  # (1, H, W, 3)
        mask = surface_masks(renderer, source_factors[None])  # (1, 3, H, W)
        c_base = region_colours(base, mask)[0]  # (3 surfaces, 3)
        c_swap = region_colours(grid.reshape(-1, *grid.shape[2:]),
                                np.repeat(mask, n * targets, axis=0)).reshape(n, targets, 3, 3)
        ideal = np.repeat(source_factors[None], targets, axis=0)
        for s, column in enumerate(SURFACES.values()):
            swapped = ideal.copy()
            swapped[:, column] = target_factors[:, column]
            rendered = renderer.render(np.concatenate([source_factors[None], swapped]))
            ideal_colours = region_colours(rendered, np.repeat(mask, targets + 1, axis=0))
            delta = ideal_colours[1:, s] - ideal_colours[0, s]  # (T, 3)
            norm2 = (delta ** 2).sum(axis=1)
            keep = np.sqrt(norm2) > MIN_DELTA
            if not keep.any():
                continue
            moved = c_swap[:, keep, s] - c_base[s]  # (N, kept, 3)
            sums[:, s] += (np.einsum("nkc,kc->nk", moved, delta[keep]) / norm2[keep]).sum(axis=1)
            counts[:, s] += int(keep.sum())
    transfer = sums / np.maximum(counts, 1)
    return {"run": str(run), "surfaces": list(SURFACES), "pairs": counts[0].tolist(),
            "transfer": transfer.round(3).tolist(), "best_rows": best_rows(transfer)}


def best_rows(transfer: np.ndarray) -> dict[str, dict[str, float]]:
    """For each colour factor, the factor row that carries most of it, how much, and the most
    that row carries of another colour factor (a row changing one attribute: high, then low)."""
    best = {}
    for s, name in enumerate(SURFACES):
        k = int(transfer[:, s].argmax())
        best[name] = {"row": k, "transfer": round(float(transfer[k, s]), 3),
                      "other": round(float(np.delete(transfer[k], s).max()), 3)}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="the synth-shapes3d store")
    parser.add_argument("--sources", type=int, default=8)
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the matrices here")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    results = []
    for run in args.runs:
        result = transfer_matrix(run, args.data, args.sources, args.targets, args.steps, args.seed)
        results.append(result)
        print(f"\n{run}  (pairs per colour factor: {result['pairs']})")
        print("factor  " + "  ".join(f"{name:>10}" for name in result["surfaces"]))
        for k, values in enumerate(result["transfer"]):
            print(f"{k:>6}  " + "  ".join(f"{v:>10.3f}" for v in values))
        print("best  " + "  ".join(f"{name} row {b['row']}: {b['transfer']:.3f} (other "
                                  f"{b['other']:.3f})" for name, b in result["best_rows"].items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
