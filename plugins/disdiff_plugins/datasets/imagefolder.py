"""Any folder of PNG/JPEG images (searched recursively, sorted by relative path), unlabelled.

Metrics that need factors or attributes cannot run on such a store; training and sampling can.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from disdiff_core.errors import DataError
from disdiff_plugins.datasets.base import BATCH_IMAGES, Batch, Conversion, UnlabelledDataset, take
from disdiff_plugins.datasets.imaging import centre_square_box, decode_files, describe_resize
from disdiff_plugins.datasets.sources import Manifest, require_folder

SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: Path) -> list[Path]:
    """PNG/JPEG files under ``folder``, sorted by path relative to it."""
    require_folder(folder, "a folder of PNG/JPEG images")
    files = [p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()]
    if not files:
        raise DataError(f"{folder} holds no .png, .jpg or .jpeg file")
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


class ImageFolder(UnlabelledDataset):
    """Reader of a folder of images (no factors)."""

    name = "imagefolder"
    needs_source = True
    source_hint = "a folder of PNG/JPEG images"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.params.size, self.params.size, self.params.channels)

    def convert(self, source: Path | None, limit: int | None) -> Conversion:
        assert source is not None
        files = list_images(source)
        num = take(limit, len(files))
        manifest = Manifest(source)
        p = self.params
        box = centre_square_box if p.crop == "center" else None

        def batches() -> Iterator[Batch]:
            for start in range(0, num, BATCH_IMAGES):
                images = decode_files(files[start : start + BATCH_IMAGES], manifest,
                                      mode="RGB" if p.channels == 3 else "L", box=box,
                                      size=p.size, resample=p.resample)
                yield images, {}

        crop = "largest centred square cropped, " if box else "whole image (aspect not kept), "
        return Conversion(num, batches(), crop + describe_resize(p.size, p.resample)
                          + ("; converted to grey" if p.channels == 1 else "; converted to RGB"),
                          source=manifest.record)
