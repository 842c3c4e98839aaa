"""Pixel preprocessing shared by the readers: PIL resizing, cropping, decoding.

PIL is the reference: dlib resizes Cars3D and SmallNORB with ``PIL.Image.ANTIALIAS`` (Lanczos)
and torchvision's ``Resize`` on a PIL image (CelebA pipelines) is PIL bilinear; PIL's filters
are antialiased when shrinking (the kernel widens with the scale factor). Images are handled
one by one (PIL has no batch API) on a thread pool, since PIL releases the GIL while it
decodes and resamples.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.sources import Manifest, reading

RESAMPLE: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}

#: A crop: a PIL box (left, top, right, bottom), or a function of (width, height) giving one.
Box = Callable[[int, int], tuple[int, int, int, int]] | Sequence[int]

T = TypeVar("T")
R = TypeVar("R")


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                              thread_name_prefix="disdiff-imaging")


def thread_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` on a shared thread pool, in order."""
    return list(_pool().map(fn, items))


def describe_resize(size: int, resample: str) -> str:
    return f"resized to {size}×{size} with PIL {resample} (antialiased when shrinking)"


def resize_image(image: np.ndarray, size: int, resample: str) -> np.ndarray:
    """(H, W, C) uint8, C = 1 or 3 → (size, size, C) uint8 with PIL ``resample``."""
    if image.shape[:2] == (size, size):
        return image
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    out = np.asarray(pil.resize((size, size), RESAMPLE[resample]))
    return out[..., None] if out.ndim == 2 else out


def resize_batch(images: np.ndarray, size: int, resample: str) -> np.ndarray:
    """(B, H, W, C) uint8 → (B, size, size, C) uint8, each image as :func:`resize_image`."""
    if images.shape[1:3] == (size, size):
        return images
    resized = thread_map(lambda im: resize_image(im, size, resample), images)
    return np.stack(resized) if resized else np.zeros((0, size, size, images.shape[-1]), np.uint8)


def centre_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of a width × height image as a PIL box (left, top, right,
    bottom)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


#: PIL modes of 16-bit grey PNGs (I;16*, or I in older Pillow releases).
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit grey image as 8-bit grey (the high byte, as PIL itself reduces 16-bit RGB
    PNGs); other images unchanged. PIL's own I;16 → L/RGB conversion clips at 255 instead of
    scaling, which turns a 16-bit image almost white."""
    if image.mode not in _SIXTEEN_BIT:
        return image
    values = np.clip(np.asarray(image).astype(np.int64), 0, 65535) >> 8
    return Image.fromarray(values.astype(np.uint8))


def decode(
    data: bytes,
    *,
    mode: str,
    box: Box | None,
    size: int,
    resample: str,
) -> np.ndarray:
    """Decode an encoded image (PNG/JPEG bytes), convert to ``mode`` ("RGB" or "L"), crop to
    ``box`` (a PIL box, or a function of (width, height) giving one; None: no crop) and resize
    to size × size. Returns (size, size, C) uint8."""
    with Image.open(io.BytesIO(data)) as image:
        image = _eight_bit(image).convert(mode)
        if box is not None:
            image = image.crop(box(*image.size) if callable(box) else tuple(box))
        if image.size != (size, size):
            image = image.resize((size, size), RESAMPLE[resample])
        array = np.asarray(image)
    return array[..., None] if array.ndim == 2 else array


def decode_files(
    paths: Sequence[Path], manifest: Manifest, *, mode: str, box: Box | None, size: int,
    resample: str,
) -> np.ndarray:
    """Read and :func:`decode` image files on the thread pool, hashing the bytes read into
    ``manifest`` (each file is read once). Returns (len(paths), size, size, C) uint8."""

    def one(path: Path) -> tuple[str, int, np.ndarray]:
        with reading(path):
            data = path.read_bytes()
            try:
                image = decode(data, mode=mode, box=box, size=size, resample=resample)
            except DataError as exc:  # e.g. a crop that does not fit: say which file
                raise DataError(f"{path}: {exc}") from None
        return hashlib.sha256(data).hexdigest(), len(data), image

    results = thread_map(one, paths)
    for path, (digest, num_bytes, _) in zip(paths, results, strict=True):
        manifest.add(path, digest, num_bytes)
    return np.stack([image for _, _, image in results])
