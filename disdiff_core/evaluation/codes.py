"""Read a code array from disk: ``.npy``, ``.npz`` or a zarr array/group.

Codes are (num_images, num_codes) or (num_images, N, D), one row per image of a dataset store
in its canonical order. In an ``.npz`` or zarr group the array is picked by ``key``, else the
one named ``codes``, else the only array there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from disdiff_core.errors import DataError

DEFAULT_KEY = "codes"


def _pick(arrays: Mapping[str, Any], key: str | None, path: Path) -> Any:
    names = sorted(arrays)
    if key is not None:
        if key not in arrays:
            held = ", ".join(names) or "nothing"
            raise DataError(f"{path} has no array {key!r}; it holds: {held}")
        return arrays[key]
    if DEFAULT_KEY in arrays:
        return arrays[DEFAULT_KEY]
    if len(names) == 1:
        return arrays[names[0]]
    raise DataError(
        f"{path} holds several arrays ({', '.join(names) or 'none'}) and none is called "
        f"{DEFAULT_KEY!r}: say which one with a key"
    )


def load_codes(path: str | Path, key: str | None = None) -> np.ndarray:
    """Load codes (num_images, C) or (num_images, N, D) as a numpy array.

    Raises DataError when the file is missing, unreadable, or not 2-D/3-D.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"codes file {path} does not exist")
    try:
        if path.suffix == ".npy":
            codes = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                codes = np.asarray(_pick(dict(archive.items()), key, path))
        else:
            import zarr

            node = zarr.open(str(path), mode="r")
            if isinstance(node, zarr.Group):
                node = _pick(dict(node.arrays()), key, path)
            codes = np.asarray(node[...])
    except DataError:
        raise
    except Exception as exc:  # any reader failure is a bad file, reported with its path
        raise DataError(f"cannot read codes from {path} (.npy, .npz or zarr): {exc}") from exc
    if codes.ndim not in (2, 3) or not np.issubdtype(codes.dtype, np.number):
        raise DataError(
            f"codes in {path} must be numbers shaped (images, codes) or (images, N, D); "
            f"got {codes.dtype} {codes.shape}"
        )
    return codes
