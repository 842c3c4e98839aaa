"""``disdiff encode RUN --data STORE | --images PATH --out CODES``: a trained run's codes.

The codes z = E(x) are written as float32 (images, N, D), one row per image in the store's row
(canonical) order, or in file-name order for a folder of images, so ``disdiff eval-codes`` can
score them against the store. ``.npy`` gives one array; any other name (by convention ``.zarr``)
a zarr group whose ``codes`` array carries the run and source in its attributes. Both are
written atomically. Progress goes to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from disdiff_cli.console import err, out

if TYPE_CHECKING:
    import numpy as np

    from disdiff_core.recipes.model import Recipe

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _image_files(path: Path) -> list[Path]:
    from disdiff_core.errors import DataError

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
    import numpy as np
    from PIL import Image

    from disdiff_core.errors import DataError

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
    from disdiff_core.data.store import open_store
    from disdiff_core.stages.load import check_image_shape

    assert recipe.encoder is not None
    size = recipe.encoder.params.get("image_size")
    channels = recipe.encoder.params.get("in_channels", 3)
    if data is not None:
        store = open_store(data)
        check_image_shape(recipe, store.image_shape, f"store {data}")
        return store.num_images, store.iter_batches(batch_size), str(data)
    assert images is not None
    files = _image_files(images)

    def read() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(files), batch_size):
            yield start, read_image_files(files[start:start + batch_size], size, channels)

    return len(files), read(), str(images)


def write_codes(path: Path, codes: np.ndarray, attrs: dict[str, Any]) -> None:
    """Codes to ``.npy``, or to the ``codes`` array of a new zarr group, atomically."""
    import numpy as np

    from disdiff_core.io import atomic_path

    if path.suffix == ".npy":
        with atomic_path(path) as tmp:
            np.save(tmp, codes)
        return
    import zarr

    with atomic_path(path, directory=True) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        array = group.create_array("codes", shape=codes.shape, dtype=codes.dtype,
                                   chunks=(min(len(codes), 4096), *codes.shape[1:]))
        array[...] = codes
        array.attrs.update(attrs)


def encode(
    run: Annotated[Path, typer.Argument(help="a finished disdiff run directory")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="codes file: .npy, or .zarr")],
    data: Annotated[Path | None, typer.Option("--data", help="dataset store to encode")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="an image file or a folder of them (file-name order)")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="images per pass")] = 256,
    device: Annotated[str | None, typer.Option(
        "--device", help="torch device (default: cuda when available)")] = None,
) -> None:
    """Encode images with a trained run: codes (images, N, D) in the source's order."""
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from disdiff_core.errors import DataError
    from disdiff_core.stages.load import encode_images, load_disdiff, read_run_recipe

    if (data is None) == (images is None):
        raise DataError("give exactly one of --data STORE or --images PATH")
    recipe = read_run_recipe(run)
    model = load_disdiff(run, device)
    total, batches, source = _batches(data, images, batch_size, recipe)
    codes = np.zeros((total, model.num_factors, model.field.factor_dim), np.float32)
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress("[bold]encode[/]", *columns, console=err, transient=True) as progress:
        task = progress.add_task("encode", total=total)
        for start, batch in batches:
            z = encode_images(model, batch, batch_size=batch_size)
            codes[start:start + len(batch)] = z.float().cpu().numpy()
            progress.update(task, completed=start + len(batch))
    write_codes(out_path, codes, {"run": str(run), "source": source})
    out.print(f"wrote codes {codes.shape[0]}×{codes.shape[1]}×{codes.shape[2]} to {out_path}")
