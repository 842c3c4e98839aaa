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
FLOAT32_MAX = float(np.finfo(np.float32).max)


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

    Raises DataError when the file is missing or unreadable, or its array fails
    :func:`check_codes`.
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
    return check_codes(codes, f"codes in {path}")


def check_codes(codes: Any, what: str = "codes") -> np.ndarray:
    """Codes as a float array the metrics can take, or a DataError saying what is wrong.

    Every code array goes through here (files, and encoder output that a diverged run can fill
    with NaN), so that no metric meets an array it cannot handle: real numbers only, 2-D or 3-D
    with no empty axis, every value finite and within float32's range (±3.4e38): scikit-learn's
    trees compute in float32 and reject larger values, and liblinear (SAP's SVMs) never returns
    on values near 1e80. float32 stays float32; any other dtype becomes float64.
    """
    codes = np.asarray(codes)
    real = np.issubdtype(codes.dtype, np.number) and not np.iscomplexobj(codes)
    if not real or codes.ndim not in (2, 3) or 0 in codes.shape:
        raise DataError(f"{what} must be numbers shaped (images, codes) or (images, N, D), real "
                        f"and with no empty axis; got {codes.dtype} {codes.shape}")
    if codes.dtype != np.float32:
        with np.errstate(over="ignore"):
            codes = codes.astype(np.float64)
    bad = ~(np.abs(codes) <= FLOAT32_MAX)  # NaN compares False
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(codes), -1).any(axis=1))
        raise DataError(f"{what} hold NaN, infinite or huge (beyond ±3.4e38) values in "
                        f"{len(rows)} of {len(codes)} rows (first: row {rows[0]}); metrics need "
                        "finite codes within float32's range")
    return codes
