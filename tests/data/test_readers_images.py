"""Readers of image folders: CelebA (with its attribute file) and any PNG/JPEG folder, checked
against the same crop and resize applied independently with PIL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image
from source_formats import CELEBA_ATTRIBUTES, random_images, write_celeba

from disdiff_core.data.store import open_store


def test_celeba_crop_resize_and_attributes(tmp_path: Path, cli) -> None:
    rng = np.random.default_rng(0)
    values = write_celeba(tmp_path / "celeba", 12, rng)
    out = tmp_path / "celeba.zarr"
    result = cli("data", "prepare", "celeba", "--source", tmp_path / "celeba", "--out", out)
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.num_images == 12 and store.image_shape == (64, 64, 3)
    assert store.factors is None and store.attribute_names == CELEBA_ATTRIBUTES
    assert np.array_equal(store.attributes, (values == 1).astype(np.int8))
    for i in (0, 11):
        with Image.open(tmp_path / "celeba" / "img_align_celeba" / f"{i + 1:06d}.jpg") as image:
            # 128×128 centred at (89, 121): left 25, top 57
            crop = image.convert("RGB").crop((25, 57, 153, 185))
            expected = np.asarray(crop.resize((64, 64), Image.Resampling.BILINEAR))
        assert np.array_equal(store.read(i, i + 1)[0], expected)
    source = store.attrs["source"]
    assert source["name"] == "celeba" and source["num_files"] == 13
    files = sorted((tmp_path / "celeba").rglob("*.*"))
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  "
                    f"{p.relative_to(tmp_path / 'celeba').as_posix()}\n" for p in files)
    assert source["sha256"] == hashlib.sha256(lines.encode()).hexdigest()

    # pointing at img_align_celeba itself works too, and --limit keeps the first images
    result = cli("data", "prepare", "celeba", "--source", tmp_path / "celeba" / "img_align_celeba",
                 "--out", tmp_path / "few.zarr", "--limit", 3)
    assert result.exit_code == 0, result.output
    assert np.array_equal(open_store(tmp_path / "few.zarr").read(0, 3), store.read(0, 3))


def test_celeba_errors(tmp_path: Path, cli, nothing_left) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "celeba"
    write_celeba(root, 4, rng)
    out = tmp_path / "c.zarr"
    attributes = root / "list_attr_celeba.txt"
    text = attributes.read_text()
    attributes.write_text(text.replace("4\n", "5\n", 1))
    result = cli("data", "prepare", "celeba", "--source", root, "--out", out)
    assert result.exit_code == 1 and "announces 5 images but 4" in result.output
    attributes.write_text(text)
    (root / "img_align_celeba" / "000002.jpg").unlink()
    result = cli("data", "prepare", "celeba", "--source", root, "--out", out)
    assert result.exit_code == 1 and "000002.jpg" in result.output
    (root / "img_align_celeba" / "000002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    result = cli("data", "prepare", "celeba", "--source", root, "--out", out)
    assert result.exit_code == 1 and "000002.jpg" in result.output
    Image.fromarray(random_images(rng, 1, (100, 100, 3))[0]).save(root / "img_align_celeba" /
                                                                   "000002.jpg")
    result = cli("data", "prepare", "celeba", "--source", root, "--out", out)
    output = " ".join(result.output.split())  # the message is long enough to be wrapped
    assert result.exit_code == 1 and "does not fit in a 100×100 image" in output
    assert "000002.jpg" in output, output  # the error names the offending file
    nothing_left(out)
    attributes.unlink()
    result = cli("data", "prepare", "celeba", "--source", root, "--out", out)
    assert result.exit_code == 1 and "list_attr_celeba.txt" in result.output


def test_imagefolder_sorted_recursive_centre_crop(tmp_path: Path, cli, nothing_left) -> None:
    rng = np.random.default_rng(2)
    folder = tmp_path / "photos"
    (folder / "b").mkdir(parents=True)
    sources = {
        "a.png": random_images(rng, 1, (40, 60, 3))[0],
        "b/c.jpg": random_images(rng, 1, (50, 30, 3))[0],
        "b/d.PNG": random_images(rng, 1, (20, 20, 4))[0],
    }
    for name, array in sources.items():
        Image.fromarray(array).save(folder / name)
    (folder / "notes.txt").write_text("skip me")
    out = tmp_path / "f.zarr"
    result = cli("data", "prepare", "imagefolder", "--source", folder, "--out", out,
                 "--set", "size=16")
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.num_images == 3 and store.image_shape == (16, 16, 3) and store.factors is None
    for row, (name, box) in enumerate([("a.png", (10, 0, 50, 40)), ("b/c.jpg", (0, 10, 30, 40)),
                                       ("b/d.PNG", (0, 0, 20, 20))]):
        with Image.open(folder / name) as image:
            expected = image.convert("RGB").crop(box).resize((16, 16), Image.Resampling.BILINEAR)
        assert np.array_equal(store.read(row, row + 1)[0], np.asarray(expected)), name

    grey = tmp_path / "g.zarr"
    result = cli("data", "prepare", "imagefolder", "--source", folder, "--out", grey,
                 "--set", "channels=1", "--set", "crop=none", "--set", "size=8")
    assert result.exit_code == 0, result.output
    with Image.open(folder / "a.png") as image:
        expected = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(open_store(grey).read(0, 1)[0, :, :, 0], expected)

    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("data", "prepare", "imagefolder", "--source", empty, "--out", out, "--force")
    assert result.exit_code == 1 and "holds no .png" in result.output
    assert open_store(out).num_images == 3  # a failed --force leaves the old store intact


def test_imagefolder_16_bit_grey_png_is_scaled_not_clipped(tmp_path: Path, cli) -> None:
    """PIL opens a 16-bit grey PNG as mode I;16, and its own conversion to L/RGB clips values
    at 255 (a ramp comes out almost white); the reader keeps the high byte, as PIL does for
    16-bit RGB PNGs."""
    folder = tmp_path / "deep"
    folder.mkdir()
    ramp = np.linspace(0, 65535, 16 * 16).round().astype(np.uint16).reshape(16, 16)
    Image.fromarray(ramp).save(folder / "ramp.png")
    with Image.open(folder / "ramp.png") as image:
        assert image.mode.startswith("I")  # really stored and read as 16-bit
    out = tmp_path / "deep.zarr"
    result = cli("data", "prepare", "imagefolder", "--source", folder, "--out", out,
                 "--set", "size=16", "--set", "channels=1")
    assert result.exit_code == 0, result.output
    assert np.array_equal(open_store(out).read(0, 1)[0, :, :, 0], (ramp >> 8).astype(np.uint8))
