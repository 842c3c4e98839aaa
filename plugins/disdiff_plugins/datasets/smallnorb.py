"""SmallNORB (LeCun et al., 2004) from its binary ``smallnorb-*-{dat,cat,info}.mat`` matrices.

Each file is a little-endian binary matrix: int32 magic (0x1E3D4C55 bytes, 0x1E3D4C54 int32),
int32 ndim, then max(3, ndim) int32 dimensions, then the data. Per set (training, testing):
``dat`` uint8 (N, 2, 96, 96) stereo pairs, ``cat`` int32 (N,) category 0..4, ``info`` int32
(N, 4) instance 0..9, elevation 0..8, azimuth 0, 2, …, 34 (halved to 0..17), lighting 0..5.

Factors follow the usual protocol (dlib): category 5, elevation 9, azimuth 18, lighting 6. The
object instance is not a factor there (dlib samples it at random for each observation); it is
kept in the store's ``nuisance`` array (``nuisance_names: [instance]``), and the store's ground
truth draws it with the metric's RandomState for every observation, as dlib does. Rows keep the
files' order, training set first, as dlib concatenates them. One camera of each pair is kept and
resized to 64×64 with PIL Lanczos (dlib: ``resize((64, 64), ANTIALIAS)`` of the left image).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import BATCH_IMAGES, Batch, Conversion, GridDataset, take
from disdiff_plugins.datasets.imaging import describe_resize, resize_batch
from disdiff_plugins.datasets.sources import Manifest, reading

FACTOR_NAMES = ["category", "elevation", "azimuth", "lighting"]
FACTOR_SIZES = [5, 9, 18, 6]
NUISANCE_NAMES = ["instance"]
NUISANCE_SIZES = [10]
MAGIC_UINT8 = 0x1E3D4C55
MAGIC_INT32 = 0x1E3D4C54
_DTYPES = {MAGIC_UINT8: np.dtype("<u1"), MAGIC_INT32: np.dtype("<i4")}
DAT_PATTERN = re.compile(r"smallnorb-(.+)-dat\.mat")


def read_matrix(path: Path, magic: int, dims_after_first: tuple[int, ...]) -> np.ndarray:
    """Memory-map a NORB binary matrix, checking its magic number, its dimensions after the
    first, and that the file holds every byte its header announces."""
    with reading(path), open(path, "rb") as f:
        header = np.frombuffer(f.read(8), "<i4")
        if len(header) != 2:
            raise DataError(f"{path} is too short to be a NORB binary matrix")
        found_magic, ndim = int(header[0]), int(header[1])
        if found_magic not in _DTYPES or not 1 <= ndim <= 8:
            raise DataError(f"{path} is not a NORB binary matrix (magic {found_magic:#x}, "
                            f"ndim {ndim})")
        raw_dims = np.frombuffer(f.read(4 * max(3, ndim)), "<i4")
    if found_magic != magic:
        raise DataError(f"{path}: matrix of {_DTYPES[found_magic]} values, expected "
                        f"{_DTYPES[magic]}")
    if len(raw_dims) != max(3, ndim):
        raise DataError(f"{path} is truncated inside its header")
    dims = tuple(int(d) for d in raw_dims[:ndim])
    if dims[1:] != dims_after_first:
        expected_shape = "(N" + "".join(f", {d}" for d in dims_after_first) + ")"
        raise DataError(f"{path}: matrix of shape {dims}; expected {expected_shape}")
    offset = 8 + 4 * max(3, ndim)
    expected = offset + int(np.prod(dims, dtype=np.int64)) * _DTYPES[magic].itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise DataError(f"{path} is {'truncated' if actual < expected else 'too long'}: "
                        f"{actual} bytes, its header announces {expected}")
    with reading(path):
        return np.memmap(path, dtype=_DTYPES[magic], mode="r", offset=offset, shape=dims)


@dataclass
class NorbSet:
    """One set (training or testing) of the three matrices."""

    name: str
    dat: Path
    cat: Path
    info: Path

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images uint8 (N, 2, 96, 96) memory-mapped, factors (N, 4), instance (N, 1))."""
        images = read_matrix(self.dat, MAGIC_UINT8, (2, 96, 96))
        category = np.asarray(read_matrix(self.cat, MAGIC_INT32, ()))
        info = np.asarray(read_matrix(self.info, MAGIC_INT32, (4,)))
        n = len(images)
        if len(category) != n or len(info) != n:
            raise DataError(f"set {self.name}: {n} images but {len(category)} categories and "
                            f"{len(info)} info rows")
        instance, elevation, azimuth, lighting = info.T
        if (azimuth % 2).any():
            raise DataError(f"{self.info}: azimuths must be even (0, 2, …, 34)")
        factors = np.stack([category, elevation, azimuth // 2, lighting], axis=1)
        columns = [(self.cat, "category", category, 5), (self.info, "instance", instance, 10),
                   (self.info, "elevation", elevation, 9), (self.info, "azimuth/2", azimuth // 2, 18),
                   (self.info, "lighting", lighting, 6)]
        for path, name, values, size in columns:
            bad = np.flatnonzero((values < 0) | (values >= size))
            if bad.size:
                raise DataError(f"{path}: {name} {values[bad[0]]} in row {bad[0]} is outside "
                                f"0..{size - 1}")
        return images, factors.astype(np.int32), instance[:, None].astype(np.int32)


def find_sets(source: Path) -> list[NorbSet]:
    """The sets of a folder (every ``smallnorb-*-dat.mat`` with its cat and info), or the one
    set of a given ``-dat.mat`` file; training before testing."""
    if source.is_dir():
        dats = sorted(p for p in source.iterdir() if DAT_PATTERN.fullmatch(p.name))
        if not dats:
            gz = sorted(source.glob("smallnorb-*.mat.gz"))
            hint = " (decompress the .mat.gz files with gunzip first)" if gz else ""
            raise DataError(f"{source} holds no smallnorb-*-dat.mat file{hint}")
    elif DAT_PATTERN.fullmatch(source.name):
        dats = [source]
    else:
        raise DataError(f"{source}: expected a folder of smallnorb-*-{{dat,cat,info}}.mat files "
                        "or one smallnorb-*-dat.mat file")
    sets = []
    for dat in dats:
        name = dat.name.removeprefix("smallnorb-").removesuffix("-dat.mat")
        parts = {kind: dat.with_name(f"smallnorb-{name}-{kind}.mat") for kind in ("cat", "info")}
        for kind, path in parts.items():
            if not path.is_file():
                raise DataError(f"{dat} has no matching {kind} file {path.name} next to it")
        sets.append(NorbSet(name, dat, parts["cat"], parts["info"]))
    return sorted(sets, key=lambda s: ("testing" in s.name, s.name))


class SmallNORB(GridDataset):
    """Reader of the SmallNORB binary matrices (training and testing sets combined)."""

    name = "smallnorb"
    needs_source = True
    source_hint = "the folder of smallnorb-*-{dat,cat,info}.mat files"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 1)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        sets = find_sets(source)
        loaded = [s.load() for s in sets]
        num = take(limit, sum(len(images) for images, _, _ in loaded))
        root = source if source.is_dir() else source.parent
        manifest = Manifest(root)
        size, resample, camera = self.params.size, self.params.resample, self.params.camera

        def batches() -> Iterator[Batch]:
            remaining = num
            for norb_set, (images, factors, instance) in zip(sets, loaded, strict=True):
                count = min(remaining, len(images))
                for start in range(0, count, BATCH_IMAGES):
                    stop = min(start + BATCH_IMAGES, count)
                    with reading(norb_set.dat):
                        views = np.asarray(images[start:stop, camera])[..., None]
                    yield resize_batch(views, size, resample), {
                        "factors": factors[start:stop], "nuisance": instance[start:stop]}
                remaining -= count
                manifest.add_files([norb_set.dat, norb_set.cat, norb_set.info])
                if remaining == 0:
                    break

        return Conversion(
            num, batches(),
            f"camera {camera} of each stereo pair, {describe_resize(size, resample)}; "
            "azimuth 0..34 halved to 0..17; sets: " + ", ".join(s.name for s in sets),
            source=manifest.record, nuisance_names=NUISANCE_NAMES, nuisance_sizes=NUISANCE_SIZES,
            extra={"nuisance_policy": "instance is not a factor (usual protocol); it is kept in "
                   "'nuisance'"},
        )
