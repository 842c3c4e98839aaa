"""Property tests of the images reader of ``disdiff encode --images``: a folder of files with
image names holding anything (images of every PIL mode and size, other formats, random or cut
bytes, nothing, a folder) gives uint8 images of the run's shape or a DataError with a message."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image
from robust_fixtures import BOUNDED, result_or_user_error

from disdiff_core.app.encoding import IMAGE_SUFFIXES, image_files, read_image_files
from disdiff_core.errors import DataError

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F"]


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    """An image of any mode and size as PNG or TIFF (TIFF keeps the float and 32-bit modes)."""
    mode = draw(st.sampled_from(MODES))
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    image = Image.new(mode, size, color=draw(st.integers(0, 255)))
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode in ("F", "I", "CMYK") else "PNG")
    return buffer.getvalue()


def _content() -> st.SearchStrategy[bytes | None]:
    """What one entry holds: image bytes, the same cut short or with bytes overwritten,
    random bytes, nothing; None for a folder with an image name."""
    damaged = st.tuples(image_bytes(), st.integers(0, 300), st.binary(max_size=8)).map(
        lambda t: (t[0][:t[1]] + t[2] + t[0][t[1] + len(t[2]):]) if t[2] else t[0][:t[1]])
    return st.one_of(image_bytes(), damaged, st.binary(max_size=64), st.just(b""), st.none())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@BOUNDED
@given(entries=st.lists(st.tuples(st.sampled_from(IMAGE_SUFFIXES + (".PNG", ".txt")), _content()),
                        max_size=4),
       size=st.sampled_from([None, 8]), channels=st.sampled_from([1, 3]))
def test_a_folder_of_anything(folder: Path, entries: list[tuple[str, bytes | None]],
                              size: int | None, channels: int) -> None:
    images = folder / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir()
    for i, (suffix, content) in enumerate(entries):
        if content is None:
            (images / f"{i}{suffix}").mkdir()
        else:
            (images / f"{i}{suffix}").write_bytes(content)

    def read() -> np.ndarray:
        return read_image_files(image_files(images), size, channels)

    batch = result_or_user_error(read)
    event("read" if isinstance(batch, np.ndarray) else "refused")
    if isinstance(batch, np.ndarray):
        assert batch.dtype == np.uint8 and batch.ndim == 4 and batch.shape[-1] == channels
        assert size is None or batch.shape[1:3] == (size, size)


def test_an_image_too_large_to_decode_is_refused(folder: Path) -> None:
    """PIL refuses to decode an image past twice its pixel limit (a decompression bomb)."""
    path = folder / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(DataError, match="bomb.png"):
        read_image_files([path], 8, 3)
