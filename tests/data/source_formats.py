"""Small files in the exact formats of the published datasets (docs/DATASETS.md), written
independently of the readers so that the tests check the readers against the formats."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

SHAPES3D_VALUES = [
    np.arange(10) / 10.0,
    np.arange(10) / 10.0,
    np.arange(10) / 10.0,
    np.linspace(0.75, 1.25, 8),
    np.arange(4.0),
    np.linspace(-30.0, 30.0, 15),
]
SHAPES3D_SIZES = [10, 10, 10, 8, 4, 15]


def random_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_shapes3d_h5(path: Path, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """3dshapes.h5 with ``images`` and float64 ``labels`` holding the VALUES of ``factors``."""
    import h5py

    images = random_images(rng, len(factors), (64, 64, 3))
    labels = np.stack([SHAPES3D_VALUES[k][factors[:, k]] for k in range(6)], axis=1)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(16, 64, 64, 3))
        f.create_dataset("labels", data=labels.astype(np.float64))
    return images


def write_partial_npz(path: Path, key: str, announced: tuple[int, ...], rows: np.ndarray,
                      compress: bool = True) -> None:
    """An .npz whose member ``key`` announces ``announced`` (e.g. the full 480000-image grid)
    in its .npy header but holds only ``rows`` (the first rows): enough for a conversion with
    a limit, and a truncated file for one without. Writing the full grids would take GB."""
    header = {"descr": np.lib.format.dtype_to_descr(rows.dtype), "fortran_order": False,
              "shape": announced}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with (zipfile.ZipFile(path, "w", compression=method) as archive,
          archive.open(f"{key}.npy", "w", force_zip64=True) as member):
        np.lib.format.write_array_header_1_0(member, header)
        member.write(np.ascontiguousarray(rows).tobytes())


def write_dsprites_npz(path: Path, latents: np.ndarray, rng: np.random.Generator,
                       *, metadata_sizes: list[int] | None = None) -> np.ndarray:
    """A dSprites .npz: 0/1 ``imgs``, ``latents_classes`` (colour column first), values, and
    the pickled ``metadata`` dict. Returns the 0/1 images."""
    imgs = rng.integers(0, 2, size=(len(latents), 64, 64), dtype=np.uint8)
    metadata = {
        "latents_names": ("color", "shape", "scale", "orientation", "posX", "posY"),
        "latents_sizes": np.array(metadata_sizes or [1, 3, 6, 40, 32, 32]),
        "title": "dSprites dataset",
    }
    np.savez_compressed(path, imgs=imgs, latents_classes=latents.astype(np.int64),
                        latents_values=latents.astype(np.float64),
                        metadata=np.array(metadata, dtype=object))
    return imgs


def write_car(path: Path, rng: np.random.Generator, *, cheap: bool = False) -> np.ndarray:
    """A MATLAB v5 car_XXX_mesh.mat with ``im`` uint8 (128, 128, 3, 24, 4); ``cheap`` makes
    a smooth, well-compressing image set (fast to write and read)."""
    import scipy.io

    if cheap:
        base = rng.integers(0, 256, size=(1, 1, 3, 24, 4)).astype(np.uint8)
        im = np.broadcast_to(base, (128, 128, 3, 24, 4)).copy()
        im[::16, ::16] = 255 - im[::16, ::16]
    else:
        im = rng.integers(0, 256, size=(128, 128, 3, 24, 4), dtype=np.uint8)
    scipy.io.savemat(path, {"im": im}, do_compression=cheap)
    return im


def write_norb_matrix(path: Path, array: np.ndarray) -> None:
    """SmallNORB's binary matrix: little-endian int32 magic, ndim, max(3, ndim) dims, data."""
    magic = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype(np.int32): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = np.array([magic, array.ndim, *dims], dtype="<i4")
    path.write_bytes(header.tobytes() + array.astype(array.dtype.newbyteorder("<")).tobytes())


def write_norb_set(folder: Path, name: str, n: int, rng: np.random.Generator) -> dict:
    """One SmallNORB set: dat (n, 2, 96, 96), cat (n,), info (n, 4) with azimuth 0, 2, …, 34."""
    dat = random_images(rng, n, (2, 96, 96))
    cat = rng.integers(0, 5, n).astype(np.int32)
    info = np.stack([rng.integers(0, 10, n), rng.integers(0, 9, n), 2 * rng.integers(0, 18, n),
                     rng.integers(0, 6, n)], axis=1).astype(np.int32)
    write_norb_matrix(folder / f"smallnorb-{name}-dat.mat", dat)
    write_norb_matrix(folder / f"smallnorb-{name}-cat.mat", cat)
    write_norb_matrix(folder / f"smallnorb-{name}-info.mat", info)
    return {"dat": dat, "cat": cat, "info": info}


CELEBA_ATTRIBUTES = [f"Attr_{i}" for i in range(40)]


def write_celeba(root: Path, n: int, rng: np.random.Generator) -> np.ndarray:
    """img_align_celeba/000001.jpg … (178×218) and list_attr_celeba.txt; returns ±1 values."""
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    values = rng.choice([-1, 1], size=(n, 40))
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(random_images(rng, 1, (218, 178, 3))[0]).save(folder / name, quality=90)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values[i]))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return values
