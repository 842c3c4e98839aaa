"""Data pipeline throughput: procedural rendering, store codecs, and the training loader.

    python bench/bench_data.py [--images 8192] [--batch 128]

Prints images per second for each renderer (synth-dsprites, toy-shapes, synth-shapes3d: its
one-off geometry pass and its per-image compositing), the size ratio and read speed of candidate
store codecs on rendered images (the store uses zstd level 3), and the training
loader's images per second reading a store from RAM versus by chunks (and the ratio).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from disdiff_core.data.loader import make_loader
from disdiff_plugins.datasets.base import grid_factors
from disdiff_plugins.datasets.specs import SYNTH_DSPRITES, SYNTH_SHAPES3D, TOY_SHAPES
from disdiff_plugins.datasets.synth_dsprites import render as render_dsprites


def rate(fn: Callable[[], object], count: int, repeats: int = 3) -> float:
    """``count`` / median seconds of a call of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def bench_renderers(images: int) -> np.ndarray:
    """Print rendering rates; return rendered images (RGB scenes, sprites) to compare codecs on."""
    rng = np.random.default_rng(0)
    sizes = SYNTH_DSPRITES.build({}).factor_sizes
    factors = grid_factors(0, int(np.prod(sizes)), sizes)[rng.choice(737280, images)]
    print(f"synth-dsprites 64×64 render      {rate(lambda: render_dsprites(factors, 64), images):10.0f} img/s")
    toy = TOY_SHAPES.build({})
    toy_factors = grid_factors(0, 864, toy.factor_sizes)
    print(f"toy-shapes 32×32 render           {rate(lambda: toy.render(toy_factors), 864):10.0f} img/s")
    shapes = SYNTH_SHAPES3D.build({})
    start = time.perf_counter()
    shapes.light_maps(4, 2)
    per_group = time.perf_counter() - start
    print(f"synth-shapes3d geometry pass      {per_group:10.2f} s per (scale, shape) of 15 views;"
          f" all 32: ≈{32 * per_group:.0f} s once")
    s3_factors = grid_factors(0, 480000, shapes.factor_sizes)
    s3_factors = s3_factors[(s3_factors[:, 3] == 4) & (s3_factors[:, 4] == 2)][:images]
    rendered = np.concatenate([shapes.render(s3_factors[: images // 2]),
                               render_dsprites(factors[: images // 2], 64).repeat(3, axis=-1)])
    print(f"synth-shapes3d 64×64 compositing  "
          f"{rate(lambda: shapes.render(s3_factors), len(s3_factors)):10.0f} img/s")
    return rendered


def bench_codecs(images: np.ndarray, folder: Path) -> None:
    import zarr
    from zarr.codecs import BloscCodec, ZstdCodec

    codecs = {
        "zstd-3 (the store's)": ZstdCodec(level=3),
        "blosc zstd-3 noshuffle": BloscCodec(cname="zstd", clevel=3, shuffle="noshuffle"),
        "blosc zstd-3 bitshuffle": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
        "blosc lz4-5 noshuffle": BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle"),
    }
    for name, codec in codecs.items():
        path = folder / "codec.zarr"
        shutil.rmtree(path, ignore_errors=True)
        array = zarr.create_array(str(path), shape=images.shape, dtype="uint8",
                                  chunks=(256, *images.shape[1:]), compressors=codec)
        array[:] = images
        disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        speed = rate(lambda a=array: a[:], len(images)) * images[0].nbytes / 1e6
        print(f"codec {name:32s} ratio {images.nbytes / disk:6.1f}   read {speed:7.0f} MB/s")


def bench_loader(folder: Path, images: int, batch: int) -> None:
    store = SYNTH_SHAPES3D.build({"supersample": 1}).prepare(folder / "s.zarr", limit=images)
    rates = {}
    for in_memory in (True, False):
        loader = make_loader(store, batch_size=batch, in_memory=in_memory)
        stream = iter(loader)
        next(stream)
        batches = max(1, images // batch)
        start = time.perf_counter()
        for _ in range(batches):
            next(stream)
        rates[in_memory] = batches * batch / (time.perf_counter() - start)
    print(f"loader RAM     {rates[True]:10.0f} img/s (batch {batch}, 64×64×3, 1 process)")
    print(f"loader chunks  {rates[False]:10.0f} img/s   RAM / chunks = {rates[True] / rates[False]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        rendered = bench_renderers(args.images)
        bench_codecs(rendered, Path(tmp))
        bench_loader(Path(tmp), args.images, args.batch)


if __name__ == "__main__":
    main()
