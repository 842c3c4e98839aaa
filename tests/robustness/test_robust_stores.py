"""Property tests of the dataset store reader: a valid store damaged in any way (attributes of
any value, arrays deleted or replaced by ones of another dtype or shape, chunks or metadata
files deleted, cut or overwritten) opens and reads back everything, or fails with a DataError
with a message; never another exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from robust_fixtures import BOUNDED, json_values, result_or_user_error, write_grid_store

from disdiff_core.data.preview import preview_grid
from disdiff_core.data.store import Store, open_store

ARRAYS = ["images", "factors", "attributes", "nuisance"]
ATTRIBUTES = ["format", "format_version", "name", "variant", "factor_names", "factor_sizes",
              "attribute_names", "nuisance_names", "nuisance_sizes", "num_images", "image_shape",
              "complete", "source", "params"]
#: Values of the right type but wrong content (sizes and names of other lengths, other counts),
#: which pass the first checks and reach the readers.
plausible = st.one_of(st.lists(st.integers(0, 6), max_size=4), st.lists(st.text(max_size=2),
                                                                         max_size=4),
                      st.integers(0, 30))


@st.composite
def damage(draw: st.DrawFn) -> tuple[str, Any]:
    """One change to a store: (what, how)."""
    kind = draw(st.sampled_from(["attribute", "drop-attribute", "replace-array", "delete-array",
                                 "file"]))
    if kind == "attribute":
        return kind, (draw(st.sampled_from(ATTRIBUTES)), draw(plausible | json_values))
    if kind == "drop-attribute":
        return kind, draw(st.sampled_from(ATTRIBUTES))
    if kind == "replace-array":
        dtype = draw(st.sampled_from(["uint8", "int8", "int32", "int64", "float32", "bool"]))
        shape = draw(st.just((24, 3)) | st.tuples(st.sampled_from([24, 23]), st.integers(0, 4))
                     | st.lists(st.integers(0, 30), min_size=1, max_size=4).map(tuple))
        return kind, (draw(st.sampled_from(ARRAYS)), dtype, shape, draw(st.integers(-2, 5)))
    if kind == "delete-array":
        return kind, draw(st.sampled_from(ARRAYS[:2]))
    return kind, (draw(st.sampled_from(["zarr.json", "images/zarr.json", "factors/zarr.json",
                                        "images/c/0/0/0/0", "factors/c/0/0"])),
                  draw(st.sampled_from(["delete", "cut", "overwrite"])),
                  draw(st.binary(max_size=20)), draw(st.integers(0, 200)))


def _apply(path: Path, what: str, how: Any) -> None:
    import zarr

    meta = path / "zarr.json"
    if what in ("attribute", "drop-attribute"):
        document = json.loads(meta.read_text())
        if what == "attribute":
            document["attributes"][how[0]] = how[1]
        else:
            document["attributes"].pop(how, None)
        meta.write_text(json.dumps(document))
    elif what == "replace-array":
        key, dtype, shape, fill = how
        group = zarr.open_group(str(path), mode="r+")
        array = group.create_array(key, shape=shape, dtype=dtype, overwrite=True)
        array[...] = np.asarray(fill).astype(dtype)
    elif what == "delete-array":
        shutil.rmtree(path / how, ignore_errors=True)
    else:
        name, action, data, at = how
        file = path / name
        if not file.is_file():
            return
        if action == "delete":
            file.unlink()
        elif action == "cut":
            file.write_bytes(file.read_bytes()[:at])
        else:
            content = bytearray(file.read_bytes())
            content[at:at + len(data)] = data
            file.write_bytes(bytes(content))


def read_everything(store: Store) -> None:
    """Everything the toolkit reads from a store: its summary, images (in slices, by rows and
    in batches), labels, ground truth and factor look-ups, and the preview grid."""
    store.describe()
    store.image_shape, store.chunk_images, store.nbytes, store.name, store.variant  # noqa: B018
    store.read(0, store.num_images)
    store.read_rows(np.array([store.num_images - 1, 0]))
    for _ in store.iter_batches(7):
        pass
    store.attributes, store.nuisance  # noqa: B018
    if store.factors is not None:
        store.ground_truth()
        store.find_rows(store.factors[:3])
    preview_grid(store, columns=3, random_rows=1)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_grid_store(tmp_path_factory.mktemp("store") / "grid.zarr")
    read_everything(open_store(path))  # the undamaged store reads
    return path


@settings(BOUNDED, max_examples=80)
@given(changes=st.lists(damage(), min_size=1, max_size=2))
def test_a_damaged_store(pristine: Path, changes: list[tuple[str, Any]]) -> None:
    path = pristine.with_name("damaged.zarr")
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(pristine, path)
    for what, how in sorted(changes, key=lambda change: change[0] == "file"):  # files last
        _apply(path, what, how)
    store = result_or_user_error(lambda: open_store(path))
    if isinstance(store, Store):
        outcome = result_or_user_error(lambda: read_everything(store))
        event("read" if outcome is None else "refused while reading")
    else:
        event("refused when opened")
