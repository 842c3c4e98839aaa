"""Cars3D (Reed et al., NeurIPS 2015) from the folder of ``car_XXX_mesh.mat`` files.

Each MATLAB v5 file holds ``im`` uint8 (128, 128, 3, 24, 4): 24 azimuths × 4 elevations of one
car. The factors, canonical order, are elevation 4, azimuth 24, object 183 (dlib's order), so
row ((e·24)+a)·183 + o holds ``im[:, :, :, a, e]`` of the o-th car in sorted file-name order
(dlib lists the directory, which is not reproducible). Images are resized to 64×64 with PIL
Lanczos, which is what dlib's ``thumbnail((64, 64), ANTIALIAS)`` does to a square image.

Because the object is the fastest factor, writing canonical rows needs every car at once: the
resized cars are held in memory (183·96 images, 216 MB at 64×64), never the 128×128 originals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import Batch, Conversion, GridDataset, grid_factors, take
from disdiff_plugins.datasets.imaging import describe_resize, resize_batch
from disdiff_plugins.datasets.sources import Manifest, reading, require_folder

FACTOR_NAMES = ["elevation", "azimuth", "object"]
FACTOR_SIZES = [4, 24, 183]
MESH_SHAPE = (128, 128, 3, 24, 4)
FILE_PATTERN = re.compile(r"car_.*_mesh\.mat")


def list_cars(folder: Path) -> list[Path]:
    """The car files of a folder, sorted by file name; DataError unless there are 183."""
    require_folder(folder, "the folder of car_XXX_mesh.mat files")
    files = sorted(p for p in folder.iterdir() if FILE_PATTERN.fullmatch(p.name))
    if len(files) != FACTOR_SIZES[2]:
        raise DataError(f"{folder} holds {len(files)} car_*_mesh.mat files; Cars3D has "
                        f"{FACTOR_SIZES[2]} (object is a factor of the grid, so all are needed)")
    return files


def load_car(path: Path) -> np.ndarray:
    """The 96 views of one car as uint8 (24 azimuths, 4 elevations, 128, 128, 3)."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    # MatReadError (e.g. an empty file left by an interrupted extraction) is a damaged file too.
    with reading(path, (MatReadError,)):
        content = scipy.io.loadmat(path, variable_names=["im"])
    if "im" not in content:
        keys = [k for k in content if not k.startswith("__")]
        raise DataError(f"{path} has no key 'im' (its keys: {', '.join(keys) or 'none'})")
    im = content["im"]
    if im.shape != MESH_SHAPE or im.dtype != np.uint8:
        raise DataError(f"{path}: 'im' is {im.dtype} {im.shape}; expected uint8 {MESH_SHAPE}")
    return np.ascontiguousarray(im.transpose(3, 4, 0, 1, 2))


class Cars3D(GridDataset):
    """Reader of the Cars3D .mat folder (canonical order elevation, azimuth, object)."""

    name = "cars3d"
    needs_source = True
    source_hint = "the folder of Cars3D's car_XXX_mesh.mat files"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 3)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        files = list_cars(source)
        num = take(limit, int(np.prod(FACTOR_SIZES)))
        # Rows 0..num-1 touch objects 0..min(num, 183)-1 only (the object varies fastest).
        used = files[: min(num, FACTOR_SIZES[2])]
        manifest = Manifest(source)
        size, resample = self.params.size, self.params.resample

        def batches() -> Iterator[Batch]:
            views = np.empty((len(used), 24, 4, size, size, 3), np.uint8)
            for o, path in enumerate(used):
                car = load_car(path).reshape(96, *MESH_SHAPE[:3])
                views[o] = resize_batch(car, size, resample).reshape(24, 4, size, size, 3)
                manifest.add_file(path)
            per_view = len(used)
            for view in range(-(-num // per_view)):
                elevation, azimuth = divmod(view, 24)
                start = view * per_view
                stop = min(start + per_view, num)
                images = views[: stop - start, azimuth, elevation]
                yield images, {"factors": grid_factors(start, stop, FACTOR_SIZES)}

        return Conversion(num, batches(), f"{describe_resize(size, resample)}; cars in sorted "
                          "file-name order", source=manifest.record)
