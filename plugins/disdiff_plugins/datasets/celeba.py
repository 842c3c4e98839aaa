"""CelebA (Liu et al., 2015): ``img_align_celeba/*.jpg`` and ``list_attr_celeba.txt``.

The attribute file: line 1 the image count, line 2 the 40 attribute names, then one line per
image, ``<file> v1 … v40`` with v = ±1. Images are taken in the attribute file's order (sorted
file names). Reference preprocessing: a 128×128 crop centred at (x=89, y=121) of the 178×218
aligned image, resized to 64×64 (torchvision ``Resize`` on PIL: bilinear, antialiased).

No factors. The attributes are stored as int8 0/1 (1 = present, i.e. +1 in the file), the
convention of the TAD implementation (an attribute is present when its value is > 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import BATCH_IMAGES, Batch, Conversion, UnlabelledDataset, take
from disdiff_plugins.datasets.imaging import decode_files, describe_resize
from disdiff_plugins.datasets.sources import Manifest, file_sha256, reading

IMAGE_FOLDER = "img_align_celeba"
ATTRIBUTE_FILE = "list_attr_celeba.txt"


def find_layout(source: Path) -> tuple[Path, Path, Path]:
    """(root, image folder, attribute file) of a CelebA folder: ``source`` holds
    ``img_align_celeba/`` (or is it) and ``list_attr_celeba.txt`` (there or in ``Anno/``)."""
    if source.is_dir() and source.name == IMAGE_FOLDER:
        source = source.parent
    images = source / IMAGE_FOLDER
    if not images.is_dir():
        raise DataError(f"{source} has no {IMAGE_FOLDER}/ folder; expected the CelebA folder "
                        f"holding {IMAGE_FOLDER}/ and {ATTRIBUTE_FILE}")
    for attributes in (source / ATTRIBUTE_FILE, source / "Anno" / ATTRIBUTE_FILE):
        if attributes.is_file():
            return source, images, attributes
    raise DataError(f"{source} has no {ATTRIBUTE_FILE} (looked in {source} and {source / 'Anno'})")


def parse_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, image file names, int8 (N, A) values 0/1) of list_attr_celeba.txt."""
    with reading(path):
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2 or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise DataError(f"{path}: expected the image count on line 1 and the attribute names "
                        "on line 2")
    count, names, rows = int(lines[0][0]), lines[1], lines[2:]
    if len(rows) != count:
        raise DataError(f"{path}: line 1 announces {count} images but {len(rows)} lines follow "
                        "(truncated?)")
    files, values = [], np.empty((count, len(names)), np.int8)
    for i, row in enumerate(rows):
        if len(row) != len(names) + 1 or any(v not in ("1", "-1") for v in row[1:]):
            raise DataError(f"{path}, line {i + 3}: expected a file name and {len(names)} values "
                            "of 1 or -1")
        files.append(row[0])
        values[i] = [v == "1" for v in row[1:]]
    return names, files, values


class CelebA(UnlabelledDataset):
    """Reader of aligned CelebA with its 40 binary attributes (no factors)."""

    name = "celeba"
    needs_source = True
    source_hint = f"the CelebA folder holding {IMAGE_FOLDER}/ and {ATTRIBUTE_FILE}"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, 3)

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The crop (PIL box) of the parameters, which must lie inside the image."""
        p = self.params
        half = p.crop // 2
        box = (p.center_x - half, p.center_y - half, p.center_x - half + p.crop,
               p.center_y - half + p.crop)
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            raise DataError(f"the {p.crop}×{p.crop} crop centred at ({p.center_x}, "
                            f"{p.center_y}) does not fit in a {width}×{height} image")
        return box

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        root, folder, attribute_file = find_layout(source)
        names, files, values = parse_attributes(attribute_file)
        num = take(limit, len(files))
        paths = [folder / name for name in files[:num]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{len(missing)} images listed in {attribute_file} are missing, "
                            f"e.g. {missing[0]}")
        manifest = Manifest(root)
        p = self.params

        def batches() -> Iterator[Batch]:
            for start in range(0, num, BATCH_IMAGES):
                stop = min(start + BATCH_IMAGES, num)
                images = decode_files(paths[start:stop], manifest, mode="RGB", box=self.crop_box,
                                      size=p.size, resample=p.resample)
                yield images, {"attributes": values[start:stop]}
            manifest.add(attribute_file, file_sha256(attribute_file),
                         attribute_file.stat().st_size)

        half = p.crop // 2
        return Conversion(
            num, batches(),
            f"crop {p.crop}×{p.crop} box (left {p.center_x - half}, top {p.center_y - half}) "
            f"centred at (x={p.center_x}, y={p.center_y}), {describe_resize(p.size, p.resample)}; "
            "attributes +1/-1 stored as 1/0",
            source=manifest.record, attribute_names=names,
        )
