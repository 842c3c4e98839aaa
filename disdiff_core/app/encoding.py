"""Codes of a trained run (``disdiff encode``): z = E(x) of a store's images or of image files.

The codes are float32 (images, N, D), one row per image in the store's row (canonical) order,
or in file-name order for a folder of images, so :func:`~disdiff_core.app.evaluation.
evaluate_codes` can score them against the store. ``.npy`` gives one array, ``.npz`` an
archive with one ``codes`` array; any other name (by convention ``.zarr``) a zarr group whose
``codes`` array carries the run and source in its attributes. All are written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from disdiff_core.app.results import EncodeResult
from disdiff_core.app.runs import load_run
from disdiff_core.data.store import open_store
from disdiff_core.errors import DataError
from disdiff_core.io import atomic_path
from disdiff_core.loading import check_image_shape, encode_images
from disdiff_core.recipes.model import Recipe

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Told (images done, images in all) after each batch.
Advance = Callable[[int, int], None]


def image_files(path: Path) -> list[Path]:
    """An image file, or the image files of a folder in file-name order."""
    if not path.exists():
        raise DataError(f"--images: {path} does not exist")
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"--images: no image files ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    return files


def read_image_files(files: list[Path], size: int | None, channels: int) -> np.ndarray:
    """Image files as uint8 (B, size, size, channels): grey or RGB, resized (Lanczos) when
    ``size`` is given and differs."""
    from PIL import Image

    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                if size is not None and image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.LANCZOS)
                arrays.append(np.asarray(image).reshape(image.size[1], image.size[0], channels))
        except Exception as exc:  # PIL's decoders fail with OSError, ValueError, SyntaxError,
            # DecompressionBombError…: whatever it is, this file is not an image we can read
            raise DataError(f"cannot read image {file}: {exc}") from exc
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise DataError(f"--images: the images differ in size ({sorted(shapes)}); "
                        "all must have the run's image size")
    return np.stack(arrays)


def _batches(data: Path | None, images: Path | None, batch_size: int, recipe: Recipe
             ) -> tuple[int, Iterator[tuple[int, np.ndarray]], str]:
    """(number of images, (start, uint8 batch) in row order, description of the source)."""
    assert recipe.encoder is not None
    size = recipe.encoder.params.get("image_size")
    channels = recipe.encoder.params.get("in_channels", 3)
    if data is not None:
        store = open_store(data)
        check_image_shape(recipe, store.image_shape, f"store {data}")
        return store.num_images, store.iter_batches(batch_size), str(data)
    assert images is not None
    files = image_files(images)

    def read() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(files), batch_size):
            yield start, read_image_files(files[start:start + batch_size], size, channels)

    return len(files), read(), str(images)


def write_codes(path: Path, codes: np.ndarray, attrs: dict[str, Any]) -> None:
    """Codes to ``.npy``, to the ``codes`` array of an ``.npz``, or to the ``codes`` array of
    a new zarr group (any other name), atomically."""
    if path.suffix == ".npy":
        with atomic_path(path) as tmp:
            np.save(tmp, codes)
        return
    if path.suffix == ".npz":  # a file, as numpy and `disdiff eval-codes` expect, not a zarr
        with atomic_path(path) as tmp:
            np.savez(tmp, codes=codes)
        return
    import zarr

    with atomic_path(path, directory=True) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        array = group.create_array("codes", shape=codes.shape, dtype=codes.dtype,
                                   chunks=(min(len(codes), 4096), *codes.shape[1:]))
        array[...] = codes
        array.attrs.update(attrs)


def encode(
    run: str | Path,
    *,
    data: str | Path | None = None,
    images: str | Path | None = None,
    out: str | Path | None = None,
    batch_size: int = 256,
    device: str | None = None,
    advance: Advance | None = None,
) -> EncodeResult:
    """Encode a store (``data``) or image files (``images``: a file or a folder) with a
    finished run; ``out``: also write the codes there (``.npy`` or zarr)."""
    if (data is None) == (images is None):
        raise DataError("give exactly one of --data STORE or --images PATH")
    loaded = load_run(run, device=device)
    model = loaded.model
    total, batches, source = _batches(Path(data) if data is not None else None,
                                      Path(images) if images is not None else None,
                                      batch_size, loaded.recipe)
    codes = np.zeros((total, model.num_factors, model.field.factor_dim), np.float32)
    for start, batch in batches:
        z = encode_images(model, batch, batch_size=batch_size)
        codes[start:start + len(batch)] = z.float().cpu().numpy()
        if advance is not None:
            advance(start + len(batch), total)
    if out is not None:
        write_codes(Path(out), codes, {"run": str(run), "source": source})
    return EncodeResult(codes=codes, source=source, file=Path(out) if out is not None else None)
